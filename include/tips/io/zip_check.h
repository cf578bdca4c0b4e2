// tips/io/zip_check.h - verifies every member of a zip archive against the CRC-32 in its header, by reading it
// whole (libzip checks the CRC at the end of each member). LibTorch's archive reader does not check the CRCs, so
// a checkpoint with flipped bytes would otherwise load silently and train on corrupted weights.
//
// Example:
//   tips::io::check_zip_crcs("runs/demo/checkpoints/step_00000600.ckpt");   // throws CheckpointError
#pragma once
#include <string>

namespace tips::io {

// Throws CheckpointError naming the file and the first bad member when the archive does not open (bad central
// directory, truncated file) or a member's data does not match its CRC-32. Reads the whole file once.
void check_zip_crcs(const std::string& path);

}  // namespace tips::io
