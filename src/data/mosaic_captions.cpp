// Captions of a mosaic canvas at three granularities (noisy alt-text, medium, long), from its spec.
#include <algorithm>

#include "tips/core/error.h"
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
// "red sneaker", or "sneaker" when this caption names no colours.
std::string described(const MosaicItem& item, bool with_color) {
  return with_color ? color_name(item) + " " + class_name(item.label) : class_name(item.label);
}

std::string medium_caption(const MosaicCanvasSpec& spec, bool with_color) {
  // Items of the same description are counted: "two red sneakers".
  std::vector<std::pair<std::string, int>> groups;  // "red sneaker" -> count, first-seen order
  for (const auto& item : spec.items) {
    const std::string name = described(item, with_color);
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

std::string long_caption(const MosaicCanvasSpec& spec, bool with_color, rng::SplitMix& rng) {
  std::vector<std::string> parts;
  for (const auto& item : spec.items) {
    const std::string where = position_name(item, spec.canvas);
    const char* prep = where == "center" ? "in the" : (where == "left" || where == "right") ? "on the" : "at the";
    const char* size = item.size * 8 < spec.canvas * 3 ? "small" : "large";
    parts.push_back(std::string("a ") + size + " " + described(item, with_color) + " " + prep + " " + where);
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

// color "" = this alt-text names no colours.
std::string one_item_alt(const std::string& cls, const std::string& color, rng::SplitMix& rng) {
  const std::string colored = color.empty() ? cls : color + " " + cls;
  switch (rng.randint(0, 7)) {
    case 0: return cls;
    case 1: return colored;
    case 2: return cls + " for sale";
    case 3: return "buy " + colored + " online";
    case 4: return "women's " + cls;
    case 5: return cls + " - new collection";
    default: return "cheap " + plural(cls);
  }
}

std::string alt_text(const MosaicCanvasSpec& spec, const CaptionStyle& style, rng::SplitMix& rng) {
  static const std::array<const char*, 10> kGeneric{"product photo", "new arrivals", "shop now", "image",
                                                     "fashion", "sale!", "untitled", "best sellers",
                                                     "summer collection", "free shipping"};
  const bool with_color = style.colors == CaptionColors::kAll;
  const double u = rng.uniform();
  if (u < style.alt_wrong) {  // a wrong class: web alt-text is often about something else on the page
    std::vector<int64_t> absent;
    for (int64_t c = 0; c < kFashionNumClasses; ++c)
      if (std::none_of(spec.items.begin(), spec.items.end(), [&](const auto& it) { return it.label == c; }))
        absent.push_back(c);
    if (!absent.empty())
      return one_item_alt(class_name(absent[rng.randint(0, absent.size())]),
                          with_color ? kMosaicColors[rng.randint(0, kMosaicColors.size())].name : "", rng);
  }
  if (u < style.alt_wrong + CaptionStyle::kOneItem) {
    const auto& item = style.alt_subject == AltTextSubject::kLargestItem
                           ? largest_item(spec)
                           : spec.items[rng.randint(0, spec.items.size())];
    return one_item_alt(class_name(item.label), with_color ? color_name(item) : "", rng);
  }
  if (u < style.alt_wrong + CaptionStyle::kOneItem + style.alt_generic) {
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

bool CaptionStyle::is_default() const {
  const CaptionStyle d;
  return colors == d.colors && alt_subject == d.alt_subject && alt_wrong == d.alt_wrong &&
         alt_generic == d.alt_generic;
}

CaptionStyle CaptionStyle::web_noisy() {
  CaptionStyle s;
  s.colors = CaptionColors::kAll;
  s.alt_subject = AltTextSubject::kRandomItem;
  s.alt_wrong = 0.10;
  s.alt_generic = 0.25;
  return s;
}

void validate(const CaptionStyle& style) {
  if (!(style.alt_wrong >= 0 && style.alt_generic >= 0 &&
        style.alt_wrong + style.alt_generic <= 1 - CaptionStyle::kOneItem + 1e-12))
    throw DataError("fashion mosaic: alt-text fractions wrong " + std::to_string(style.alt_wrong) + " + generic " +
                        std::to_string(style.alt_generic) + " must be >= 0 and sum to at most " +
                        std::to_string(1 - CaptionStyle::kOneItem),
                    "35 % of alt-texts always name one item; e.g. --alt-wrong 0.1 --alt-generic 0.25");
}

MosaicCaptions make_captions(const MosaicCanvasSpec& spec, rng::SplitMix& rng, const CaptionStyle& style) {
  TORCH_CHECK(!spec.items.empty(), "make_captions: a canvas without items");
  MosaicCaptions out;
  out.alt_text = alt_text(spec, style, rng);
  out.caption_medium = medium_caption(spec, style.colors == CaptionColors::kAll);
  out.caption_long = long_caption(spec, style.colors != CaptionColors::kNone, rng);
  return out;
}

}  // namespace tips::data
