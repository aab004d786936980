/*
 * wait-for-ports: waits until every TCP port given accepts a connection on HOST, or until
 * SECONDS have passed. run-tests.sh uses it to know when an emulator cluster is serving.
 *
 * usage: wait-for-ports SECONDS HOST PORT...
 * Exits 0 when every port accepted a connection, 1 on timeout (naming the ports that did
 * not), 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 when HOST:PORT accepts a TCP connection now. */
static int accepts(const struct in_addr *host, unsigned port) {
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;
    if (fd < 0) {
        return 0;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr = *host;
    ok = connect(fd, (const struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

int main(int argc, char **argv) {
    struct in_addr host;
    double deadline;
    char *end = NULL;
    int i, ready = 0;
    static int done[256];

    if (argc < 4 || argc - 3 > 256) {
        fprintf(stderr, "usage: wait-for-ports SECONDS HOST PORT...\n");
        return 2;
    }
    deadline = strtod(argv[1], &end);
    if (end == argv[1] || *end != '\0' || deadline <= 0) {
        fprintf(stderr, "wait-for-ports: SECONDS \"%s\" is not a positive number\n", argv[1]);
        return 2;
    }
    if (inet_pton(AF_INET, argv[2], &host) != 1) {
        fprintf(stderr, "wait-for-ports: HOST \"%s\" is not an IPv4 address\n", argv[2]);
        return 2;
    }
    for (i = 3; i < argc; i++) {
        long port = strtol(argv[i], &end, 10);
        if (end == argv[i] || *end != '\0' || port < 1 || port > 65535) {
            fprintf(stderr, "wait-for-ports: PORT \"%s\" is not a port number\n", argv[i]);
            return 2;
        }
    }
    deadline += now_seconds();
    for (;;) {
        for (i = 3; i < argc; i++) {
            if (!done[i - 3] && accepts(&host, (unsigned)strtol(argv[i], NULL, 10))) {
                done[i - 3] = 1;
                ready++;
            }
        }
        if (ready == argc - 3) {
            return 0;
        }
        if (now_seconds() > deadline) {
            break;
        }
        {
            struct timespec pause = {0, 50 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    for (i = 3; i < argc; i++) {
        if (!done[i - 3]) {
            fprintf(stderr, "wait-for-ports: %s:%s accepts no connection after %s s\n", argv[2],
                    argv[i], argv[1]);
        }
    }
    return 1;
}
