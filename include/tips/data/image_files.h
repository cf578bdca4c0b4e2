// tips/data/image_files.h - images named on the command line: a folder or a list file, decoded for a forward.
// `tips embed` uses these; training reads its images through the sources (source.h) and the evaluation through
// its manifests (eval/eval_set.h).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace tips::data {

struct ImageFile {
  std::string name;  // as listed: the file name in a folder, or the list file's line
  std::string path;  // where to read it
};

// `where` is either a folder (its .jpg/.jpeg/.png/.bmp/.webp/.tif/.tiff files, any case, sorted by name; other
// files and sub-folders are left out) or a list file (one path per line, relative to the list's folder unless
// absolute; blank lines skipped, CRLF accepted). Throws DataError when it cannot be read or names no image.
std::vector<ImageFile> list_image_files(const std::string& where);

// The file decoded with OpenCV, BGR -> RGB, resized to size x size without a crop (INTER_AREA when both sides
// shrink, INTER_LINEAR otherwise) -> (3, size, size) float32 in [0, 1], not normalised. DataError when the file
// does not decode.
torch::Tensor read_image_resized(const std::string& path, int64_t size);

// The lines of a text file, a trailing '\r' removed from each. DataError naming `what` when it cannot be opened.
std::vector<std::string> read_text_lines(const std::string& path, const std::string& what);

}  // namespace tips::data
