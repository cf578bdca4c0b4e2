// tips_dist_worker ROLE OUT_DIR - one rank of a multi-process dist test (not a test itself).
// Started by tests/dist/*_test.cpp through launch_ranks() with the torchrun variables set; it runs the
// collectives of ROLE and saves what it got to OUT_DIR/rank<r>.pt (tensors) or rank<r>.txt (an error), so that
// the test process compares against its own single-process reference. Exit 0 = the role ran as planned.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "dist_test_util.h"
#include "tips/core/error.h"
#include "tips/dist/collectives.h"
#include "tips/dist/context.h"
#include "tips/dist/data_parallel.h"

namespace {

namespace td = tips::dist;
namespace tt = tips::dist::testing;

void save(const std::string& out_dir, int rank, const std::vector<torch::Tensor>& ts) {
  torch::save(ts, out_dir + "/rank" + std::to_string(rank) + ".pt");
}

void save_text(const std::string& out_dir, int rank, const std::string& text) {
  std::ofstream(out_dir + "/rank" + std::to_string(rank) + ".txt") << text;
}

torch::Tensor f32(std::vector<int64_t> shape, double v) { return torch::full(shape, v, torch::kFloat32); }

int role_collectives(const td::DistContext& d, const std::string& out) {
  const double k = d.rank + 1;
  auto a = torch::arange(6, torch::kFloat32).reshape({2, 3}) * k;
  td::all_reduce_sum(d, a);
  auto m = torch::full({4}, k, torch::kFloat64);
  td::all_reduce_mean(d, m);
  auto nc = (torch::arange(6, torch::kFloat32).reshape({2, 3}) * k).t();  // non-contiguous view
  td::all_reduce_sum(d, nc);
  std::vector<torch::Tensor> list = {f32({3}, k), torch::full({2}, int64_t(10) * (d.rank + 1), torch::kInt64),
                                     f32({2, 2}, d.rank)};
  td::all_reduce_sum(d, list);
  auto b = f32({3}, 10 * k);
  td::broadcast(d, b, /*src_rank=*/1);
  auto g = torch::arange(3, torch::kFloat32).expand({2, 3}) + d.rank;  // (2, 3) -> (W*2, 3)
  auto gathered = td::all_gather(d, g);
  td::barrier(d);
  auto red = f32({2}, k);
  td::sum_reducer(d)(red);
  save(out, d.rank, {a, m, nc, list[0], list[1], list[2], b, gathered, red});
  return 0;
}

// coalesced: both tensors through the one-collective form (the step's TermContext::gathered), else one each.
int role_gather_grad(const td::DistContext& d, const std::string& out, bool coalesced) {
  auto p = tt::make_clip_problem(d.world_size);
  const auto x = p.images.narrow(0, d.rank * tt::kRows, tt::kRows);  // (B, Din): this rank's shard
  const auto t = p.texts.narrow(0, d.rank * tt::kRows, tt::kRows);
  auto img = torch::matmul(x, p.w_image);                            // (B, D)
  auto txt = torch::matmul(t, p.w_text);
  img.retain_grad();
  const auto all = coalesced
                       ? td::all_gather_with_grad(d, std::vector<torch::Tensor>{img, txt})
                       : std::vector<torch::Tensor>{td::all_gather_with_grad(d, img), td::all_gather_with_grad(d, txt)};
  auto loss = tt::clip_loss(all[0], all[1]);  // over W*B
  loss.backward();
  td::GradSync sync(d, {p.w_image, p.w_text}, /*bucket_mb=*/1);
  sync.all_reduce_mean();
  save(out, d.rank, {loss.detach(), p.w_image.grad(), p.w_text.grad(), img.grad()});
  return 0;
}

int role_grad_sync(const td::DistContext& d, const std::string& out) {
  auto params = tt::make_sync_params();
  tt::fill_rank_grads(params, d.rank);
  td::GradSync sync(d, params, /*bucket_mb=*/1);
  // The rider (float32, while the last bucket is float64) rides with the gradients; the second call has a longer
  // one (the bucket's buffer grows) and averages the already averaged gradients again, which leaves them as they are.
  auto rider = torch::tensor({1.0f, 10.0f}) * static_cast<float>(d.rank + 1);
  sync.all_reduce_mean(rider);
  auto longer = torch::tensor({-1.0f, 2.0f, 0.5f}) * static_cast<float>(d.rank + 1);
  sync.all_reduce_mean(longer);
  std::vector<torch::Tensor> saved = {torch::tensor(static_cast<int64_t>(sync.num_buckets()))};
  for (const auto& q : params) saved.push_back(q.grad().defined() ? q.grad() : torch::Tensor());
  saved.pop_back();  // the frozen parameter has no gradient to compare
  auto tiny = tt::make_tiny(d.rank);
  td::broadcast_module(d, *tiny, /*bucket_mb=*/1);
  for (const auto& q : tiny->parameters()) saved.push_back(q.detach());
  for (const auto& q : tiny->buffers()) saved.push_back(q);
  saved.push_back(rider);
  saved.push_back(longer);
  save(out, d.rank, saved);
  return 0;
}

// Rank 0 runs `name` while rank 1 misbehaves; rank 0 records elapsed seconds + the DistError text.
int role_failure(const td::DistContext& d, const std::string& out, const std::string& mode) {
  if (d.rank != 0) {
    if (mode == "sleep") std::this_thread::sleep_for(std::chrono::duration<double>(d.timeout_s + 1.0));
    return 0;  // "exit": leave right after the rendezvous
  }
  if (mode == "exit") std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let rank 1 go
  const auto t0 = std::chrono::steady_clock::now();
  try {
    auto t = f32({8}, 1.0);
    td::all_reduce_sum(d, t);
  } catch (const tips::DistError& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    save_text(out, d.rank, std::to_string(s) + "\n" + e.full_message());
    return 0;
  }
  std::cerr << "rank 0: all_reduce_sum returned although rank 1 " << mode << "\n";
  return 3;
}

// Start line: a loaded machine can take seconds to load libtorch, more than the short test timeouts, so the
// ranks first wait (up to 60 s) for each other's ready files; then the rendezvous itself is quick.
void wait_for_peers(const std::string& out, int rank, int world_size) {
  std::ofstream(out + "/ready" + std::to_string(rank)) << "ready\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int r = 0; r < world_size; ++r) {
    while (!std::ifstream(out + "/ready" + std::to_string(r)) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: tips_dist_worker ROLE OUT_DIR (started by the tests/dist tests)\n";
    return 2;
  }
  const std::string role = argv[1], out = argv[2];
  tips::dist::DistConfig cfg;
  cfg.backend = tips::dist::Backend::kGloo;
  cfg.timeout_s = std::getenv("TIPS_TEST_TIMEOUT_S") ? std::atof(std::getenv("TIPS_TEST_TIMEOUT_S")) : 3.0;
  if (role != "rendezvous_alone") {
    wait_for_peers(out, std::atoi(std::getenv("RANK")), std::atoi(std::getenv("WORLD_SIZE")));
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const auto ctx = td::init(cfg);
    if (role == "collectives") return role_collectives(ctx, out);
    if (role == "gather_grad") return role_gather_grad(ctx, out, /*coalesced=*/false);
    if (role == "gather_grad_coalesced") return role_gather_grad(ctx, out, /*coalesced=*/true);
    if (role == "grad_sync") return role_grad_sync(ctx, out);
    if (role == "peer_sleeps") return role_failure(ctx, out, "sleep");
    if (role == "peer_exits") return role_failure(ctx, out, "exit");
    if (role == "rendezvous_alone") return 3;  // init must have thrown: rank 1 never starts
    std::cerr << "unknown role " << role << "\n";
    return 2;
  } catch (const tips::Error& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cerr << e.full_message() << "\n";
    if (role != "rendezvous_alone") return 4;
    save_text(out, 0, std::to_string(s) + "\n" + e.full_message());
    return 0;
  }
}
