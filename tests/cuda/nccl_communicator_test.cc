// comm/nccl_communicator.h on real devices, bootstrapped over the local (in-process)
// transport: one rank per GPU, each on its own thread. One rank (any GPU): init, an all-reduce
// that leaves the values, errors polled clean. Two ranks (two GPUs, else skipped): all-reduce
// sums, a send/recv pair and the grouped SendRecv of a pipeline stage. Skipped without a device.
#include "comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace moe::comm {
namespace {

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::vector<float> ToHost(const float* d, int64_t n) {
  std::vector<float> h(static_cast<size_t>(n));
  cudaMemcpy(h.data(), d, sizeof(float) * n, cudaMemcpyDeviceToHost);
  return h;
}

TEST(NcclCommunicatorTest, OneRankAllReduceKeepsValues) {
  if (DeviceCount() < 1) GTEST_SKIP() << "no CUDA device";
  auto world = LocalWorld(1);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  auto nccl = NcclCommunicator::Create(*world[0]);
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  EXPECT_EQ((*nccl)->size(), 1);
  std::vector<float> h = {1.5f, -2.0f, 3.25f};
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, sizeof(float) * h.size()), cudaSuccess);
  cudaMemcpy(d, h.data(), sizeof(float) * h.size(), cudaMemcpyHostToDevice);
  ASSERT_TRUE((*nccl)->AllReduceSum(d, 3, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(ToHost(d, 3), h);
  EXPECT_TRUE((*nccl)->CheckAsyncError().ok());
  cudaFree(d);
}

TEST(NcclCommunicatorTest, TwoRanksSumAndPipeline) {
  if (DeviceCount() < 2) GTEST_SKIP() << "needs two CUDA devices";
  auto world = LocalWorld(2);
  std::vector<std::vector<float>> sums(2), received(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      cudaSetDevice(r);
      auto nccl = NcclCommunicator::Create(*world[r]);
      ASSERT_TRUE(nccl.ok()) << nccl.status();
      cudaStream_t stream;
      cudaStreamCreate(&stream);
      const int64_t n = 1000;
      std::vector<float> h(n);
      for (int64_t i = 0; i < n; ++i) h[i] = static_cast<float>(i * (r + 1));
      float *d = nullptr, *recv = nullptr;
      cudaMalloc(&d, sizeof(float) * n);
      cudaMalloc(&recv, sizeof(float) * n);
      cudaMemcpy(d, h.data(), sizeof(float) * n, cudaMemcpyHostToDevice);
      ASSERT_TRUE((*nccl)->AllReduceSum(d, n, stream).ok());
      cudaStreamSynchronize(stream);
      sums[r] = ToHost(d, n);
      // Stage 0 sends its sum to stage 1, which sends back through the grouped call.
      if (r == 0) {
        ASSERT_TRUE((*nccl)->SendRecv(d, n, 1, recv, n, 1, stream).ok());
      } else {
        ASSERT_TRUE((*nccl)->Recv(recv, n, 0, stream).ok());
        ASSERT_TRUE((*nccl)->Send(d, n, 0, stream).ok());
      }
      cudaStreamSynchronize(stream);
      received[r] = ToHost(recv, n);
      EXPECT_TRUE((*nccl)->CheckAsyncError().ok());
      cudaFree(d);
      cudaFree(recv);
      cudaStreamDestroy(stream);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(sums[r].size(), 1000u);
    for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sums[r][i], static_cast<float>(3 * i));
    EXPECT_EQ(received[r], sums[1 - r]);
  }
}

}  // namespace
}  // namespace moe::comm
