"""The exception classes as Python code catches them: a file error is an ``OSError``, a
missing input file a ``FileNotFoundError``, and a configuration that is missing or bad a
``ConfigError`` (SPEC §10). The class follows the return code; the message is never
parsed."""

import errno
import os

import pytest

import cloudhsm_mfa as chm


@pytest.fixture
def configured():
    """``configured(path)`` starts the library afresh with ``path`` as its configuration;
    the library is finalised after the test."""

    def start(path):
        try:
            chm.finalize()
        except chm.NotInitializedError:
            pass
        chm.initialize(config_path=path)

    yield start
    try:
        chm.finalize()
    except chm.NotInitializedError:
        pass


def test_a_missing_input_file_is_a_file_not_found_error(tmp_path, rsa_pair):
    missing = tmp_path / "missing.pem"
    for load in (chm.PrivateKey.load, chm.PublicKey.load, chm.TokenFile.load):
        with pytest.raises(FileNotFoundError) as e:
            load(missing)
        assert type(e.value) is chm.FileMissingError
        assert isinstance(e.value, chm.FileError) and isinstance(e.value, chm.CloudHsmMfaError)
        assert e.value.code == chm.CHMR_FILE_ERROR
        assert e.value.errno == errno.ENOENT and e.value.filename == missing
        assert e.value.message.startswith(f"cannot read {missing}")
        assert str(e.value) == e.value.message

    # sign_token_file names the one of its inputs that is missing.
    with pytest.raises(FileNotFoundError) as e:
        chm.sign_token_file(missing, rsa_pair[0])
    assert e.value.filename == missing
    with chm.TokenFile.create_mfa([os.urandom(32)]) as f:
        f.write(tmp_path / "token.json")
    with pytest.raises(FileNotFoundError) as e:
        chm.sign_token_file(tmp_path / "token.json", missing)
    assert e.value.filename == missing


def test_a_file_that_exists_but_cannot_be_used_is_an_os_error_only(tmp_path, random_tokens):
    with pytest.raises(OSError) as e:
        chm.PrivateKey.load(tmp_path)  # a directory
    assert type(e.value) is chm.FileError
    assert not isinstance(e.value, FileNotFoundError)
    assert e.value.errno is None and e.value.filename is None
    assert e.value.args == (e.value.message,)
    assert "it is a directory" in e.value.message

    # A path through a file (ENOTDIR) is not "not found".
    (tmp_path / "plain").write_text("")
    with pytest.raises(chm.FileError) as e:
        chm.PublicKey.load(tmp_path / "plain" / "key.pem")
    assert type(e.value) is chm.FileError

    # An output that cannot be written is not "not found", though it does not exist yet.
    with chm.TokenFile.create_mfa(random_tokens(1)) as f:
        with pytest.raises(chm.FileError) as e:
            f.write(tmp_path / "no-such-dir" / "token.json")
    assert type(e.value) is chm.FileError
    assert e.value.message.startswith(f"cannot write {tmp_path / 'no-such-dir' / 'token.json'}")


def test_a_missing_configuration_is_a_config_error_and_a_file_not_found_error(
    tmp_path, configured
):
    missing = tmp_path / "missing.cfg"
    configured(missing)
    with pytest.raises(chm.ConfigError) as e:
        chm.Session.open()
    assert type(e.value) is chm.ConfigFileMissingError
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, chm.FileError)
    assert e.value.code == chm.CHMR_FILE_ERROR
    assert e.value.filename == missing
    assert e.value.message.startswith(f"cannot read {missing}")


def test_a_missing_configuration_from_the_environment_is_found_missing(
    tmp_path, configured, monkeypatch
):
    missing = tmp_path / "from-env.cfg"
    monkeypatch.setenv("CLOUDHSM_MFA_CONFIG", str(missing))
    configured(None)
    with pytest.raises(FileNotFoundError) as e:
        chm.Session.open()
    assert type(e.value) is chm.ConfigFileMissingError
    assert e.value.filename == str(missing)


def test_an_unreadable_or_bad_configuration_is_a_config_error(tmp_path, configured):
    configured(tmp_path)  # a directory: it exists, but cannot be read
    with pytest.raises(chm.ConfigError) as e:
        chm.Session.open()
    assert type(e.value) is chm.ConfigFileError
    assert not isinstance(e.value, FileNotFoundError)
    assert e.value.code == chm.CHMR_FILE_ERROR

    bad = tmp_path / "bad.cfg"
    bad.write_text('{"clusters": [}')
    configured(bad)
    with pytest.raises(chm.ConfigError) as e:
        chm.Session.open()
    assert type(e.value) is chm.ConfigError
    assert not isinstance(e.value, OSError)
    assert e.value.code == chm.CHMR_CONFIG_INVALID
    assert "not a valid cluster configuration" in e.value.message
