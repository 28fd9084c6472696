"""The opt-in kind e2e: run.sh builds the image, installs deploy/ and runs e2e_on_kind.py."""
