// tips/data/fashion_mosaic.h - the built-in demo dataset: Fashion-MNIST items on small canvases, with
// shop-style alt-text, medium and long synthetic captions, a class label and a per-pixel label map.
//
// This file reads the idx files and writes a manifest + PNG tree; it does not load samples for training
// (open_source() reads the written manifest like any other). Output of generate_fashion_mosaic(opts):
//   <out>/train.jsonl, val.jsonl, test.jsonl      several items per canvas: train from the first 50k Fashion-MNIST
//                                                 train images, val from the last 10k (split_train_val: held out
//                                                 from every train split, choose settings on it), test from the
//                                                 10k test images
//   <out>/single_{train,val,test}.jsonl           one centred item per canvas (zero-shot classification, kNN)
//   <out>/train_all.jsonl                         train + single_train: what the demo trains on
//   <out>/images/<split>/NNNNNN.png               RGB canvases, opts.size x opts.size
//   <out>/masks/<split>/NNNNNN.png                8-bit label maps: 0 background, c+1 for class c
//   <out>/classes.txt, corpus.txt, meta.json      class names; every train caption (tokenizer corpus); parameters
// A manifest line: {"image": "images/train/000000.png", "alt_text": "...", "caption_medium": "...",
//                   "caption_long": "...", "label": 7, "mask": "masks/train/000000.png"}
// Everything is a function of opts.seed (and the idx files): canvas i of split s draws from
// SplitMix(derive(seed, s, i)) (s = MosaicSplit id), so thread count does not change the output; single
// splits walk a pool permutation seeded by derive(seed, s).
//
// Example:
//   tips::data::MosaicOptions o;  o.out_dir = "data/fashion_mosaic";
//   const auto report = tips::data::generate_fashion_mosaic(o);   // skips when meta.json matches
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tips/core/rng.h"

namespace tips::data {

// Fashion-MNIST class ids 0..9 in order. Label maps store id + 1 (0 = background).
inline constexpr int kFashionNumClasses = 10;
inline constexpr std::array<const char*, kFashionNumClasses> kFashionClasses{
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"};

// Item tints: the grayscale item (0..1) multiplies the colour's RGB.
struct NamedColor {
  const char* name;
  uint8_t r, g, b;
};
inline constexpr std::array<NamedColor, 10> kMosaicColors{{{"red", 230, 40, 40},
                                                           {"green", 40, 190, 60},
                                                           {"blue", 60, 100, 240},
                                                           {"yellow", 240, 220, 40},
                                                           {"orange", 250, 140, 20},
                                                           {"purple", 160, 70, 210},
                                                           {"pink", 250, 120, 180},
                                                           {"white", 245, 245, 245},
                                                           {"gray", 150, 150, 150},
                                                           {"cyan", 40, 210, 220}}};
static_assert(kMosaicColors.size() == kFashionNumClasses, "MosaicLayout::class_colors gives each class one colour");

// Canvas backgrounds: a dark base colour, plain or with low-amplitude noise texture.
struct NamedBackground {
  const char* name;
  uint8_t r, g, b;
};
inline constexpr std::array<NamedBackground, 4> kMosaicBackgrounds{
    {{"black", 8, 8, 8}, {"dark gray", 45, 45, 45}, {"dark blue", 12, 18, 60}, {"dark green", 12, 45, 20}}};

// One split of the idx files: n images of 28x28 uint8 (row-major, 0 = black) and their labels 0..9.
struct FashionMnist {
  int64_t rows = 28, cols = 28;
  std::vector<uint8_t> pixels;  // (n, rows, cols)
  std::vector<uint8_t> labels;  // (n,)
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * rows * cols; }
};

// Reads <dir>/<prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] (prefix "train" or
// "t10k"; the .gz file is preferred, the plain one is a fallback). Throws DataError for a missing file,
// a bad magic number or mismatched counts.
FashionMnist load_fashion_mnist(const std::string& dir, const std::string& prefix);

// The train images split in two: the first five sixths feed the train splits, the last sixth (10k of 60k) the
// val splits only. Throws DataError for fewer than 6 images.
std::pair<FashionMnist, FashionMnist> split_train_val(const FashionMnist& all);

// Split ids: the stream id s in rng::derive(seed, s, canvas index).
enum class MosaicSplit : uint64_t { kTrain = 1, kTest = 2, kSingleTrain = 3, kSingleTest = 4, kVal = 5, kSingleVal = 6 };


// Where the items of a multi-item canvas go.
enum class MosaicPlacement {
  kFree,  // anywhere on the canvas, an item hiding at most a quarter of a smaller one (format version 2)
  kGrid,  // one item per cell of a grid_cells x grid_cells grid, at a random offset inside its cell: dense
          // canvases whose items never overlap and whose position words ("top left") are exact
};
inline constexpr std::array<std::pair<const char*, MosaicPlacement>, 2> kMosaicPlacementNames{
    {{"free", MosaicPlacement::kFree}, {"grid", MosaicPlacement::kGrid}}};

// Where one item lands on a canvas. size is the square side in pixels (28..56 by default).
struct MosaicItem {
  int64_t source_index = 0;  // index into the FashionMnist split
  int64_t label = 0;         // class id 0..9
  int64_t x = 0, y = 0;      // top-left corner on the canvas (pixels)
  int64_t size = 28;         // side of the resized item (pixels)
  int color = 0;             // index into kMosaicColors
};

struct MosaicCanvasSpec {
  int64_t canvas = 112;        // side (pixels)
  int background = 0;          // index into kMosaicBackgrounds
  bool textured = false;       // low-amplitude noise on the background
  uint64_t texture_seed = 0;   // seeds the texture noise
  std::vector<MosaicItem> items;  // painted in order: later items overwrite earlier ones
  int64_t label = 0;           // class of the largest item (first one on ties)
};

struct MosaicCaptions {
  std::string alt_text;        // short, shop style: one item or the item types (CaptionStyle: + generic / wrong)
  std::string caption_medium;  // every item: "a sneaker and two bags" (with colours: "a red sneaker and ...")
  std::string caption_long;    // every item with size and position (and colour), and the background
};

// Parameters of the placement draws; also used by tests to re-derive canvases.
struct MosaicLayout {
  int64_t canvas = 112;        // canvas side (pixels)
  int64_t item_min = 28;       // item side range (pixels), inclusive
  int64_t item_max = 56;
  int64_t min_items = 1;       // min_items..max_items items per multi-item canvas
  int64_t max_items = 4;
  int threshold = 64;          // item pixels above this (0..255, after resize) get the class in the label map
  MosaicPlacement placement = MosaicPlacement::kFree;
  int64_t grid_cells = 2;      // kGrid: cells per side (max_items <= grid_cells^2)
  // Each item takes its class's colour (kMosaicColors[label]) instead of a random one. A diagnostic, not the demo:
  // colour alone then tells the class, so recognising the items costs the model nothing and what is left to learn
  // is whether the patch tokens line up with the class names. The background may then share an item's hue (a blue
  // item on dark blue), which random colours avoid.
  bool class_colors = false;
};

// Draws a multi-item canvas (single == false) or one centred item (single == true) from `pool`.
// single_source >= 0 fixes the item for single canvases (a permutation index), otherwise it is drawn.
MosaicCanvasSpec draw_canvas(const MosaicLayout& layout, const FashionMnist& pool, bool single,
                             int64_t single_source, rng::SplitMix& rng);

// The largest item (the first one on ties): the one spec.label names and a "largest" alt-text describes.
const MosaicItem& largest_item(const MosaicCanvasSpec& spec);

// Renders spec: rgb (canvas, canvas, 3) uint8 row-major RGB and label_map (canvas, canvas) uint8.
void render_canvas(const MosaicLayout& layout, const MosaicCanvasSpec& spec, const FashionMnist& pool,
                   std::vector<uint8_t>& rgb, std::vector<uint8_t>& label_map);

// Which captions name item colours. In these mosaics colour words let the contrastive loss tell most canvases
// of a batch apart without looking at item shapes (docs/results.md, zero-shot classification).
enum class CaptionColors { kAll, kLongOnly, kNone };
// The item a one-item alt-text names: any item on the canvas, or the largest one (the picture's main product).
enum class AltTextSubject { kRandomItem, kLargestItem };
// Their names on the command line and in meta.json.
inline constexpr std::array<std::pair<const char*, CaptionColors>, 3> kCaptionColorsNames{
    {{"all", CaptionColors::kAll}, {"long", CaptionColors::kLongOnly}, {"none", CaptionColors::kNone}}};
inline constexpr std::array<std::pair<const char*, AltTextSubject>, 2> kAltTextSubjectNames{
    {{"random", AltTextSubject::kRandomItem}, {"largest", AltTextSubject::kLargestItem}}};

// What the captions say. The defaults are the demo dataset's (format version 2): no colour words, and
// shop-style alt-text about the main (largest) item or listing the item types. With colour words the
// contrastive loss tells a batch apart by colour alone and the class signal never starts (docs/results.md).
struct CaptionStyle {
  CaptionColors colors = CaptionColors::kNone;
  AltTextSubject alt_subject = AltTextSubject::kLargestItem;
  double alt_wrong = 0.0;     // fraction of alt-texts naming a class that is not on the canvas
  double alt_generic = 0.0;   // fraction of alt-texts naming no class ("shop now", "IMG_1234.jpg")
  // 35 % of alt-texts name one item; the rest (1 - 0.35 - wrong - generic) list the item types.
  static constexpr double kOneItem = 0.35;
  bool is_default() const;
  // The version-1 demo style: colours in every caption, alt-text about a random item, 10 % wrong, 25 % generic.
  static CaptionStyle web_noisy();
};

// Throws DataError unless 0 <= alt_wrong, alt_generic and alt_wrong + alt_generic <= 1 - kOneItem.
void validate(const CaptionStyle& style);

// Captions for a drawn canvas; the alt-text noise draws from rng.
MosaicCaptions make_captions(const MosaicCanvasSpec& spec, rng::SplitMix& rng, const CaptionStyle& style = {});

// Position word for an item centre: "top left", "top", ..., "center", ..., "bottom right".
std::string position_name(const MosaicItem& item, int64_t canvas);

struct MosaicOptions {
  std::string out_dir = "data/fashion_mosaic";
  std::string mnist_dir = "/usr/share/datasets/fashion-mnist";
  int64_t size = 112;                 // canvas side (pixels)
  double item_min_fraction = 0.25;    // item side range as a fraction of the canvas side: 28..56 px at 112
  double item_max_fraction = 0.5;     // (single-item canvases draw from the top quarter of the range)
  int64_t train_count = 20000;        // multi-item canvases from the 60k train images
  int64_t test_count = 2000;          // multi-item canvases from the 10k test images
  int64_t single_train_count = 20000; // centred single items (distinct images while count <= pool)
  int64_t single_test_count = 2000;
  int64_t val_count = 1000;           // multi-item val canvases (from the held-out val pool)
  int64_t single_val_count = 1000;
  MosaicPlacement placement = MosaicPlacement::kFree;
  int64_t min_items = 1;              // items per multi-item canvas
  int64_t max_items = 4;
  int label_threshold = 64;           // item pixels brighter than this (0..255) get the item's class in the label map
  bool class_colors = false;          // MosaicLayout::class_colors
  uint64_t seed = 0;
  int64_t threads = 0;                // 0 = hardware concurrency
  int png_compression = 1;            // cv::IMWRITE_PNG_COMPRESSION 0..9
  bool force = false;                 // regenerate even when meta.json matches
  CaptionStyle captions;              // what the captions say (defaults: the demo dataset)
};

struct MosaicReport {
  bool skipped = false;      // true: output with the same parameters already existed
  int64_t images = 0;        // canvases written (all splits)
  double seconds = 0;        // wall time
};

// Writes (or keeps) the dataset described above. Throws DataError when the idx files are missing
// or the output folder cannot be written.
MosaicReport generate_fashion_mosaic(const MosaicOptions& opts);

// An 8-bit label map as written by the generator: (height, width) uint8 row-major, 0 = background.
struct LabelMap {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> labels;
};
// Reads a single-channel PNG label map. Throws DataError when the file is missing or not 8-bit gray.
LabelMap load_label_map(const std::string& path);

// The layout generate_fashion_mosaic() uses for a canvas side: items from size * min_fraction to
// size * max_fraction pixels. Throws DataError for a canvas under 16 px or fractions outside
// 0 < min_fraction <= max_fraction <= 1.
MosaicLayout layout_for_size(int64_t size, double min_fraction = 0.25, double max_fraction = 0.5);
// The layout of a whole option set (sizes, placement, item counts, label threshold). Throws DataError for
// impossible combinations (e.g. a grid with fewer cells than max_items, or items larger than a cell).
MosaicLayout layout_for(const MosaicOptions& opts);

}  // namespace tips::data
