//! The client's log of its requests (SPEC §10). Every request of a session goes out
//! through [`super::cluster::Cluster::fan_out`], which hands it here with the HSMs'
//! answers: one event per request with the operation, the acting user and role, the user
//! it names, the HSMs asked and the result (`info`, or `warn` when an HSM refused or
//! missed it) and, at `debug`, one per HSM. Names and codes only: never an argument of a
//! request (a password, a token, a signature, a code), nor an HSM's message.

use super::fanout::NodeResult;
use crate::proto::{Op, Reply, Role};

/// What the log shows of a request: names only.
pub struct Request {
    op: &'static str,
    approved: bool,
    /// The user the request names (the one logging in, created, changed...).
    subject: Option<(String, Option<Role>)>,
}

impl Request {
    pub fn of(op: &Op) -> Self {
        Request {
            op: op.performed(),
            approved: matches!(op, Op::Approved { .. }),
            subject: op.subject().map(|(name, role)| (name.to_string(), role)),
        }
    }
}

/// The log of one cluster's requests, and the user they are made for.
#[derive(Default)]
pub struct RequestLog {
    /// The user the connections are logged in as, or logging in as.
    login: Option<(String, Role)>,
}

impl RequestLog {
    /// Logs `request` and the HSMs' `results` (HSM `i` named by `label(i)`).
    pub fn record(
        &mut self,
        request: Request,
        results: &[NodeResult],
        label: impl Fn(usize) -> String,
    ) {
        self.log(&request, results, label);
        self.follow_login(request, results);
    }

    fn log(&self, request: &Request, results: &[NodeResult], label: impl Fn(usize) -> String) {
        let (user, role) = match (&request.subject, &self.login) {
            (Some((name, role)), _) if request.op == "login" => (Some(name.as_str()), *role),
            (_, Some((name, role))) => (Some(name.as_str()), Some(*role)),
            _ => (None, None),
        };
        let target_user = match &request.subject {
            Some((name, _)) if request.op != "login" => Some(name.as_str()),
            _ => None,
        };
        let mut asked = 0;
        let mut ok = 0;
        let mut failure: Option<&'static str> = None;
        for (i, result) in results.iter().enumerate() {
            let (outcome, reason) = match result {
                NodeResult::Skipped => continue,
                NodeResult::Unreachable(e) => ("unreachable", Some(e.as_str())),
                NodeResult::Broken(e) => ("connection_lost", Some(e.as_str())),
                NodeResult::Answered(reply) => (reply.outcome(), None),
            };
            asked += 1;
            let failed =
                reason.is_some() || matches!(result, NodeResult::Answered(Reply::Error { .. }));
            if failed {
                failure.get_or_insert(outcome);
            } else {
                ok += 1;
            }
            tracing::debug!(
                op = %request.op,
                hsm = label(i).as_str(),
                result = %outcome,
                reason,
                "HSM answer"
            );
        }
        let role = role.map(Role::as_str);
        let approved = request.approved.then_some(true);
        match failure {
            None => tracing::info!(
                op = %request.op, approved, user, role, target_user, hsms = asked, ok,
                result = %"ok", "cluster request"
            ),
            Some(result) => tracing::warn!(
                op = %request.op, approved, user, role, target_user, hsms = asked, ok,
                result = %result, "cluster request"
            ),
        }
    }

    /// Keeps [`RequestLog::login`] up to date: a login names the user from its first
    /// request on, and stops naming it at a logout or when a step of the login failed.
    fn follow_login(&mut self, request: Request, results: &[NodeResult]) {
        let went_on = results.iter().any(|r| {
            matches!(
                r,
                NodeResult::Answered(
                    Reply::Challenge { .. }
                        | Reply::LoggedIn { .. }
                        | Reply::MfaCode { .. }
                        | Reply::MfaSelect { .. }
                )
            )
        });
        let refused = results
            .iter()
            .any(|r| matches!(r, NodeResult::Answered(Reply::Error { .. })));
        let missed = results
            .iter()
            .any(|r| matches!(r, NodeResult::Unreachable(_) | NodeResult::Broken(_)));
        match request.op {
            "login" => {
                self.login = match request.subject {
                    Some((name, Some(role))) if went_on && !refused => Some((name, role)),
                    _ => None,
                };
            }
            "login_mfa" | "login_mfa_select" | "login_mfa_code"
                if !went_on || refused || missed =>
            {
                self.login = None
            }
            "logout" => self.login = None,
            _ => {}
        }
    }
}
