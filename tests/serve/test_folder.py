import pytest

from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.folder import MANIFEST, check_output_folder, staged_folder


def test_a_file_or_a_folder_of_other_files_is_refused_and_an_earlier_repository_is_not(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        check_output_folder(tmp_path / "file")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files"):
        check_output_folder(tmp_path / "other")
    (tmp_path / "empty").mkdir()
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / MANIFEST).write_text("{}")
    for fine in ("absent", "empty", "earlier"):
        assert check_output_folder(tmp_path / fine) == tmp_path / fine


def test_a_failure_while_staging_leaves_the_previous_repository_and_no_debris(tmp_path):
    out = tmp_path / "repo"
    out.mkdir()
    (out / "old_model").mkdir()
    with pytest.raises(OSError):
        with staged_folder(out) as stage:
            (stage / "new_model").mkdir()
            raise OSError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
    assert [p.name for p in out.iterdir()] == ["old_model"]


def test_success_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "repo"
    out.mkdir()
    (out / "old_model").mkdir()
    with staged_folder(out) as stage:
        (stage / "new_model").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # neither the stage nor the old folder is left
    assert [p.name for p in out.iterdir()] == ["new_model"]
    (tmp_path / "plain").mkdir()  # Triton in a container may run as another user: the mode a mkdir gives
    assert out.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
