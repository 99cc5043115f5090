# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
from .cli import main

main()
