# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from metassl_monai.cli import main

main()
