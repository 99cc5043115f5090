# Copyright (c) mmsmlp contributors. All rights reserved.
