#include "flat.h"

namespace tips::dist {

int64_t numel_of(const std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx) {
  int64_t n = 0;
  for (size_t i : idx) n += ts[i].numel();
  return n;
}

void pack(const std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx, torch::Tensor& flat) {
  TORCH_CHECK(flat.dim() == 1 && flat.numel() == numel_of(ts, idx), "pack: buffer ", flat.sizes(),
              " does not hold ", numel_of(ts, idx), " elements");
  int64_t off = 0;
  for (size_t i : idx) {
    const int64_t n = ts[i].numel();
    flat.narrow(0, off, n).view(ts[i].sizes()).copy_(ts[i]);
    off += n;
  }
}

torch::Tensor pack(const std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx) {
  TORCH_CHECK(!idx.empty(), "pack: empty group");
  auto flat = torch::empty({numel_of(ts, idx)}, ts[idx[0]].options());
  pack(ts, idx, flat);
  return flat;
}

void unpack(const torch::Tensor& flat, std::vector<torch::Tensor>& ts, const std::vector<size_t>& idx) {
  int64_t off = 0;
  for (size_t i : idx) {
    const int64_t n = ts[i].numel();
    ts[i].copy_(flat.narrow(0, off, n).view(ts[i].sizes()));
    off += n;
  }
}

}  // namespace tips::dist
