// Mosaic placement draws and rendering (pure functions of a spec; file writing is in mosaic_writer.cpp).
#include <algorithm>
#include <cmath>

#include "tips/core/error.h"
#include "tips/data/fashion_mosaic.h"

namespace tips::data {

namespace {

int64_t overlap_area(const MosaicItem& a, const MosaicItem& b) {
  const int64_t w = std::min(a.x + a.size, b.x + b.size) - std::max(a.x, b.x);
  const int64_t h = std::min(a.y + a.size, b.y + b.size) - std::max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

// An item may hide at most a quarter of a smaller one, so captions do not name invisible items.
bool fits(const MosaicItem& item, const std::vector<MosaicItem>& placed) {
  for (const auto& p : placed) {
    const int64_t smaller = std::min(item.size * item.size, p.size * p.size);
    if (4 * overlap_area(item, p) > smaller) return false;
  }
  return true;
}

bool same_hue(int color, int background) {
  return std::string(kMosaicBackgrounds.at(background).name).find(kMosaicColors.at(color).name) != std::string::npos;
}

// Bilinear resize with half-pixel centres (as OpenCV's INTER_LINEAR when upscaling): src (h, w) -> (s, s).
void resize_bilinear(const uint8_t* src, int64_t h, int64_t w, int64_t s, std::vector<uint8_t>& dst) {
  dst.resize(static_cast<size_t>(s * s));
  for (int64_t y = 0; y < s; ++y) {
    const double sy = std::clamp((y + 0.5) * static_cast<double>(h) / s - 0.5, 0.0, static_cast<double>(h - 1));
    const int64_t y0 = static_cast<int64_t>(sy), y1 = std::min(y0 + 1, h - 1);
    const double fy = sy - y0;
    for (int64_t x = 0; x < s; ++x) {
      const double sx = std::clamp((x + 0.5) * static_cast<double>(w) / s - 0.5, 0.0, static_cast<double>(w - 1));
      const int64_t x0 = static_cast<int64_t>(sx), x1 = std::min(x0 + 1, w - 1);
      const double fx = sx - x0;
      const double top = (1 - fx) * src[y0 * w + x0] + fx * src[y0 * w + x1];
      const double bottom = (1 - fx) * src[y1 * w + x0] + fx * src[y1 * w + x1];
      dst[y * s + x] = static_cast<uint8_t>(std::lround((1 - fy) * top + fy * bottom));
    }
  }
}

}  // namespace

MosaicLayout layout_for_size(int64_t size, double min_fraction, double max_fraction) {
  if (size < 16)
    throw DataError("fashion mosaic: canvas size " + std::to_string(size) + " is too small",
                    "use --size 16 or more (112 by default)");
  if (!(min_fraction > 0 && min_fraction <= max_fraction && max_fraction <= 1))
    throw DataError("fashion mosaic: item size fractions " + std::to_string(min_fraction) + ".." +
                        std::to_string(max_fraction) + " are not in 0 < min <= max <= 1",
                    "e.g. --item-min 0.25 --item-max 0.5 (items of a quarter to half the canvas side)");
  MosaicLayout layout;
  layout.canvas = size;
  layout.item_min = std::max<int64_t>(1, static_cast<int64_t>(size * min_fraction));
  layout.item_max = std::max(layout.item_min, static_cast<int64_t>(size * max_fraction));
  return layout;
}

MosaicLayout layout_for(const MosaicOptions& o) {
  MosaicLayout layout = layout_for_size(o.size, o.item_min_fraction, o.item_max_fraction);
  layout.min_items = o.min_items;
  layout.max_items = o.max_items;
  layout.threshold = o.label_threshold;
  layout.placement = o.placement;
  layout.class_colors = o.class_colors;
  if (!(o.min_items >= 1 && o.min_items <= o.max_items))
    throw DataError("fashion mosaic: items per canvas " + std::to_string(o.min_items) + ".." + std::to_string(o.max_items) +
                        " is not a range of at least 1",
                    "e.g. --min-items 2 --max-items 4");
  if (o.label_threshold < 0 || o.label_threshold > 254)
    throw DataError("fashion mosaic: label threshold " + std::to_string(o.label_threshold), "use 0..254 (64 by default)");
  if (o.placement == MosaicPlacement::kGrid) {
    const int64_t cell = o.size / layout.grid_cells;
    if (o.max_items > layout.grid_cells * layout.grid_cells || layout.item_max > cell)
      throw DataError("fashion mosaic: a " + std::to_string(layout.grid_cells) + "x" + std::to_string(layout.grid_cells) +
                          " grid of " + std::to_string(cell) + " px cells cannot hold " + std::to_string(o.max_items) +
                          " items of up to " + std::to_string(layout.item_max) + " px",
                      "use --max-items <= 4 and --item-max <= 0.5 with --placement grid");
  }
  return layout;
}

namespace {

// kGrid: `count` distinct cells, each item at a random offset inside its cell (never overlapping).
void place_in_grid(const MosaicLayout& layout, std::vector<MosaicItem>& items, rng::SplitMix& rng) {
  const int64_t cells = layout.grid_cells * layout.grid_cells, cell = layout.canvas / layout.grid_cells;
  std::vector<int64_t> order(static_cast<size_t>(cells));
  for (int64_t i = 0; i < cells; ++i) order[i] = i;
  for (size_t i = 0; i < items.size(); ++i) {  // partial Fisher-Yates: the first items.size() cells
    std::swap(order[i], order[i + rng.randint(0, cells - static_cast<int64_t>(i))]);
    auto& item = items[i];
    item.x = (order[i] % layout.grid_cells) * cell + rng.randint(0, cell - item.size + 1);
    item.y = (order[i] / layout.grid_cells) * cell + rng.randint(0, cell - item.size + 1);
  }
}

}  // namespace

MosaicCanvasSpec draw_canvas(const MosaicLayout& layout, const FashionMnist& pool, bool single,
                             int64_t single_source, rng::SplitMix& rng) {
  TORCH_CHECK(pool.size() > 0, "draw_canvas: empty Fashion-MNIST pool");
  TORCH_CHECK(layout.item_min >= 1 && layout.item_min <= layout.item_max && layout.item_max <= layout.canvas,
              "draw_canvas: need 1 <= item_min <= item_max <= canvas, got ", layout.item_min, ", ",
              layout.item_max, ", ", layout.canvas);
  MosaicCanvasSpec spec;
  spec.canvas = layout.canvas;
  spec.background = static_cast<int>(rng.randint(0, kMosaicBackgrounds.size()));
  spec.textured = rng.bernoulli(0.5);
  spec.texture_seed = rng.next_u64();
  const int64_t count = single ? 1 : rng.randint(layout.min_items, layout.max_items + 1);
  const bool grid = !single && layout.placement == MosaicPlacement::kGrid;
  for (int64_t i = 0; i < count; ++i) {
    MosaicItem item;
    item.source_index = single && single_source >= 0 ? single_source % pool.size() : rng.randint(0, pool.size());
    item.label = pool.labels[item.source_index];
    if (layout.class_colors) {
      item.color = static_cast<int>(item.label);  // kMosaicColors has one colour per class
    } else {
      do {  // a green item on a dark green background would be nearly invisible
        item.color = static_cast<int>(rng.randint(0, kMosaicColors.size()));
      } while (same_hue(item.color, spec.background));
    }
    if (single) {
      item.size = rng.randint(std::max(layout.item_min, layout.item_max * 3 / 4), layout.item_max + 1);
      item.x = item.y = (layout.canvas - item.size) / 2;
    } else if (grid) {
      item.size = rng.randint(layout.item_min, layout.item_max + 1);  // placed below, once every size is known
    } else {
      item.size = rng.randint(layout.item_min, layout.item_max + 1);
      for (int attempt = 0; attempt < 20; ++attempt) {  // keep the last try when nothing fits
        item.x = rng.randint(0, layout.canvas - item.size + 1);
        item.y = rng.randint(0, layout.canvas - item.size + 1);
        if (fits(item, spec.items)) break;
      }
    }
    spec.items.push_back(item);
  }
  if (grid) place_in_grid(layout, spec.items, rng);
  spec.label = largest_item(spec).label;
  return spec;
}

const MosaicItem& largest_item(const MosaicCanvasSpec& spec) {
  TORCH_CHECK(!spec.items.empty(), "largest_item: a canvas without items");
  return *std::max_element(spec.items.begin(), spec.items.end(),
                           [](const MosaicItem& a, const MosaicItem& b) { return a.size < b.size; });
}

void render_canvas(const MosaicLayout& layout, const MosaicCanvasSpec& spec, const FashionMnist& pool,
                   std::vector<uint8_t>& rgb, std::vector<uint8_t>& label_map) {
  const int64_t c = spec.canvas;
  rgb.assign(static_cast<size_t>(c * c * 3), 0);
  label_map.assign(static_cast<size_t>(c * c), 0);
  const auto& bg = kMosaicBackgrounds.at(spec.background);
  rng::SplitMix noise(spec.texture_seed);
  for (int64_t p = 0; p < c * c; ++p) {
    const int offset = spec.textured ? static_cast<int>(noise.randint(-14, 15)) : 0;
    rgb[p * 3 + 0] = static_cast<uint8_t>(std::clamp(bg.r + offset, 0, 255));
    rgb[p * 3 + 1] = static_cast<uint8_t>(std::clamp(bg.g + offset, 0, 255));
    rgb[p * 3 + 2] = static_cast<uint8_t>(std::clamp(bg.b + offset, 0, 255));
  }
  std::vector<uint8_t> item_pixels;
  for (const auto& item : spec.items) {
    TORCH_CHECK(item.x >= 0 && item.y >= 0 && item.x + item.size <= c && item.y + item.size <= c,
                "render_canvas: item at (", item.x, ", ", item.y, ") size ", item.size, " leaves the canvas ", c);
    resize_bilinear(pool.image(item.source_index), pool.rows, pool.cols, item.size, item_pixels);
    const auto& col = kMosaicColors.at(item.color);
    const double tint[3] = {double(col.r), double(col.g), double(col.b)};
    for (int64_t y = 0; y < item.size; ++y) {
      for (int64_t x = 0; x < item.size; ++x) {
        const uint8_t v = item_pixels[y * item.size + x];
        const int64_t p = (item.y + y) * c + (item.x + x);
        const double a = v / 255.0;
        for (int ch = 0; ch < 3; ++ch)
          rgb[p * 3 + ch] = static_cast<uint8_t>(std::lround(rgb[p * 3 + ch] * (1 - a) + tint[ch] * a));
        if (v > layout.threshold) label_map[p] = static_cast<uint8_t>(item.label + 1);
      }
    }
  }
}

std::string position_name(const MosaicItem& item, int64_t canvas) {
  const int64_t cx = item.x + item.size / 2, cy = item.y + item.size / 2;
  const int col = static_cast<int>(std::min<int64_t>(2, 3 * cx / canvas));
  const int row = static_cast<int>(std::min<int64_t>(2, 3 * cy / canvas));
  static const char* kNames[3][3] = {{"top left", "top", "top right"},
                                     {"left", "center", "right"},
                                     {"bottom left", "bottom", "bottom right"}};
  return kNames[row][col];
}

}  // namespace tips::data
