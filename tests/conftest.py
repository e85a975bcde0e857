"""What every test shares: the shipped ``fake_discord`` fixture and the helper modules.

The fixture is enabled the way `uploader.testing` tells its users to, so our suite runs it as
they do. Shared helpers are plain modules (pytest advises against importing conftest itself):

- `tests._files`: write sized or random files, sha256 of bytes and files;
- `tests._media`: real videos, audio and images made with ffmpeg;
- `tests._memory`: an in-memory Destination and the small settings pipeline tests run with;
- `tests._encoder`: a quick, counted stand-in for the real encoder.
"""

pytest_plugins = ["uploader.testing.pytest_plugin"]
