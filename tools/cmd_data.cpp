// `tips data fashion-mosaic`: writes the built-in demo dataset (Fashion-MNIST mosaics + captions + label maps).
#include <iostream>
#include <map>
#include <type_traits>

#include "command.h"
#include "tips/data/fashion_mosaic.h"

namespace cmd_data {  // named, not anonymous: the CLI is compiled in unity batches

tips::cli::Registrar reg("data fashion-mosaic", "generate the Fashion-MNIST mosaic dataset (manifests + PNGs)",
                         [](CLI::App& app) {
  auto o = std::make_shared<tips::data::MosaicOptions>();
  app.add_option("--out", o->out_dir, "output folder")->capture_default_str();
  app.add_option("--mnist-dir", o->mnist_dir, "folder with the Fashion-MNIST *-ubyte.gz files")->capture_default_str();
  app.add_option("--size", o->size, "canvas side in pixels")->capture_default_str();
  app.add_option("--item-min", o->item_min_fraction, "smallest item side, as a fraction of the canvas side")
      ->capture_default_str();
  app.add_option("--item-max", o->item_max_fraction, "largest item side, as a fraction of the canvas side")
      ->capture_default_str();
  app.add_option("--train-count", o->train_count, "multi-item train canvases")->capture_default_str();
  app.add_option("--test-count", o->test_count, "multi-item test canvases")->capture_default_str();
  app.add_option("--single-train-count", o->single_train_count, "single-item train canvases")->capture_default_str();
  app.add_option("--single-test-count", o->single_test_count, "single-item test canvases")->capture_default_str();
  app.add_option("--val-count", o->val_count, "multi-item val canvases (held-out train images)")->capture_default_str();
  app.add_option("--single-val-count", o->single_val_count, "single-item val canvases")->capture_default_str();
  app.add_option("--min-items", o->min_items, "fewest items per multi-item canvas")->capture_default_str();
  app.add_option("--max-items", o->max_items, "most items per multi-item canvas")->capture_default_str();
  app.add_option("--label-threshold", o->label_threshold,
                 "item pixels brighter than this (0..254) get the item's class in the label maps")
      ->capture_default_str();
  app.add_option("--seed", o->seed, "every draw derives from this")->capture_default_str();
  app.add_option("--threads", o->threads, "worker threads (0 = all cores)")->capture_default_str();
  app.add_option("--png-compression", o->png_compression, "PNG compression level 0..9")->capture_default_str();
  app.add_flag("--force", o->force, "regenerate even when meta.json matches");
  app.add_flag("--class-colors", o->class_colors,
               "a diagnostic: every item in its class's colour, so that colour alone tells the class (not the demo)");
  app.add_flag_callback("--web-noisy-captions", [o] { o->captions = tips::data::CaptionStyle::web_noisy(); },
                        "the version-1 caption style: colours everywhere, alt-text about a random item, 10 % wrong, "
                        "25 % generic (caption options given with it still change their part)");
  const auto names = [](const auto& table) {
    return std::map<std::string, typename std::decay_t<decltype(table)>::value_type::second_type>(table.begin(),
                                                                                               table.end());
  };
  app.add_option("--caption-colors", o->captions.colors,
                 "which captions name item colours: all | long (the long caption only) | none")
      ->transform(CLI::CheckedTransformer(names(tips::data::kCaptionColorsNames)))
      ->default_str("none");
  app.add_option("--alt-subject", o->captions.alt_subject,
                 "the item a one-item alt-text names: random (any item) | largest (the main item)")
      ->transform(CLI::CheckedTransformer(names(tips::data::kAltTextSubjectNames)))
      ->default_str("largest");
  app.add_option("--placement", o->placement,
                 "where items go: free (anywhere, limited overlap) | grid (one per cell of a 2x2 grid)")
      ->transform(CLI::CheckedTransformer(names(tips::data::kMosaicPlacementNames)))
      ->default_str("free");
  app.add_option("--alt-wrong", o->captions.alt_wrong, "fraction of alt-texts naming a class not on the canvas")
      ->capture_default_str();
  app.add_option("--alt-generic", o->captions.alt_generic, "fraction of alt-texts naming no class")
      ->capture_default_str();
  return [o] {
    const auto report = tips::data::generate_fashion_mosaic(*o);
    if (!report.skipped)
      std::cout << "wrote " << report.images << " canvases to " << o->out_dir << " in " << report.seconds << " s\n";
    return 0;
  };
});

}  // namespace cmd_data
