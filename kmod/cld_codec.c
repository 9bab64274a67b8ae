// SPDX-License-Identifier: GPL-2.0
/*
 * The image codec shared with userspace (common/codec/, declared in
 * clondike/codec.h), compiled into the module as one unit: the format is
 * encoded by the same source in both, against common/codec/codec_env.h.
 * (lib/decompress_unxz.c includes the xz sources the same way.)
 */
#include "codec_fdinfo.c"
#include "codec_layout.c"
#include "codec_notes.c"
#include "codec_rules.c"
#include "codec_vimg.c"
