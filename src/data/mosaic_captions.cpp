// Captions of a mosaic canvas at three granularities (noisy alt-text, medium, long), from its spec.
#include <algorithm>

#include "tips/data/fashion_mosaic.h"

namespace tips::data {

namespace {

std::string plural(const std::string& noun) { return noun + (noun.back() == 's' ? "es" : "s"); }

std::string with_article(const std::string& phrase) {
  const bool vowel = std::string("aeiou").find(phrase.front()) != std::string::npos;
  return (vowel ? "an " : "a ") + phrase;
}

// "x", "x and y", "x, y and z"
std::string join_list(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  return out;
}

template <class T, size_t N>
const T& pick(const std::array<T, N>& options, rng::SplitMix& rng) {
  return options[static_cast<size_t>(rng.randint(0, N))];
}

std::string class_name(int64_t label) { return kFashionClasses.at(static_cast<size_t>(label)); }
std::string color_name(const MosaicItem& item) { return kMosaicColors.at(item.color).name; }

std::string medium_caption(const MosaicCanvasSpec& spec) {
  // Items of the same colour and class are counted: "two red sneakers".
  std::vector<std::pair<std::string, int>> groups;  // "red sneaker" -> count, first-seen order
  for (const auto& item : spec.items) {
    const std::string name = color_name(item) + " " + class_name(item.label);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == name; });
    if (it == groups.end()) groups.emplace_back(name, 1);
    else ++it->second;
  }
  static const char* kCounts[] = {"", "", "two", "three", "four", "five", "six"};
  std::vector<std::string> parts;
  for (const auto& [name, count] : groups)
    parts.push_back(count == 1 ? with_article(name)
                               : std::string(count < 7 ? kCounts[count] : "many") + " " + plural(name));
  return join_list(parts);
}

std::string long_caption(const MosaicCanvasSpec& spec, rng::SplitMix& rng) {
  std::vector<std::string> parts;
  for (const auto& item : spec.items) {
    const std::string where = position_name(item, spec.canvas);
    const char* prep = where == "center" ? "in the" : (where == "left" || where == "right") ? "on the" : "at the";
    const char* size = item.size * 8 < spec.canvas * 3 ? "small" : "large";
    parts.push_back(std::string("a ") + size + " " + color_name(item) + " " + class_name(item.label) + " " + prep +
                    " " + where);
  }
  const std::string items = join_list(parts);
  const std::string background = std::string(spec.textured ? "a textured " : "a plain ") +
                                 kMosaicBackgrounds.at(spec.background).name + " background";
  switch (rng.randint(0, 3)) {
    case 0: return items + ", on " + background + ".";
    case 1: return "A photo of " + items + ", shown against " + background + ".";
    default:
      return std::to_string(spec.items.size()) + (spec.items.size() == 1 ? " fashion item" : " fashion items") +
             " on " + background + ": " + items + ".";
  }
}

std::string one_item_alt(const std::string& cls, const std::string& color, rng::SplitMix& rng) {
  switch (rng.randint(0, 7)) {
    case 0: return cls;
    case 1: return color + " " + cls;
    case 2: return cls + " for sale";
    case 3: return "buy " + color + " " + cls + " online";
    case 4: return "women's " + cls;
    case 5: return cls + " - new collection";
    default: return "cheap " + plural(cls);
  }
}

std::string alt_text(const MosaicCanvasSpec& spec, rng::SplitMix& rng) {
  static const std::array<const char*, 10> kGeneric{"product photo", "new arrivals", "shop now", "image",
                                                     "fashion", "sale!", "untitled", "best sellers",
                                                     "summer collection", "free shipping"};
  const double u = rng.uniform();
  if (u < 0.10) {  // a wrong class: web alt-text is often about something else on the page
    std::vector<int64_t> absent;
    for (int64_t c = 0; c < kFashionNumClasses; ++c)
      if (std::none_of(spec.items.begin(), spec.items.end(), [&](const auto& it) { return it.label == c; }))
        absent.push_back(c);
    if (!absent.empty())
      return one_item_alt(class_name(absent[rng.randint(0, absent.size())]),
                          kMosaicColors[rng.randint(0, kMosaicColors.size())].name, rng);
  }
  if (u < 0.45) {
    const auto& item = spec.items[rng.randint(0, spec.items.size())];
    return one_item_alt(class_name(item.label), color_name(item), rng);
  }
  if (u < 0.70) {
    if (rng.bernoulli(0.2)) return "IMG_" + std::to_string(rng.randint(1000, 10000)) + ".jpg";
    return pick(kGeneric, rng);
  }
  std::vector<std::string> names;
  for (const auto& item : spec.items)
    if (std::find(names.begin(), names.end(), class_name(item.label)) == names.end())
      names.push_back(class_name(item.label));
  return join_list(names);
}

}  // namespace

MosaicCaptions make_captions(const MosaicCanvasSpec& spec, rng::SplitMix& rng) {
  TORCH_CHECK(!spec.items.empty(), "make_captions: a canvas without items");
  MosaicCaptions out;
  out.alt_text = alt_text(spec, rng);
  out.caption_medium = medium_caption(spec);
  out.caption_long = long_caption(spec, rng);
  return out;
}

}  // namespace tips::data
