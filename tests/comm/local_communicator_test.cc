// The in-process transport: per-tag order, any-size messages, deadlines naming the peer,
// AllReduceSum identical on every rank, Barrier, Split.
#include <atomic>
#include <cstring>
#include <functional>
#include <thread>

#include "comm/communicator.h"
#include "gtest/gtest.h"

namespace moe::comm {
namespace {

using std::chrono::milliseconds;

Clock::time_point In(milliseconds ms) { return Clock::now() + ms; }

// Runs fn(comm) on one thread per rank and joins them.
void RunRanks(std::vector<std::unique_ptr<Communicator>>& world,
              const std::function<void(Communicator&)>& fn) {
  std::vector<std::thread> threads;
  for (auto& comm : world) threads.emplace_back([&fn, &comm] { fn(*comm); });
  for (auto& thread : threads) thread.join();
}

TEST(LocalCommunicatorTest, RanksAndTransport) {
  auto world = LocalWorld(3);
  ASSERT_EQ(world.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(world[r]->rank(), r);
    EXPECT_EQ(world[r]->size(), 3);
    EXPECT_EQ(world[r]->transport(), "local");
  }
}

TEST(LocalCommunicatorTest, OrderIsKeptPerTag) {
  auto world = LocalWorld(2);
  Communicator& a = *world[0];
  Communicator& b = *world[1];
  for (int i = 0; i < 3; ++i) {
    std::string plan = "plan" + std::to_string(i);
    std::string ack = "ack" + std::to_string(i);
    ASSERT_TRUE(a.Send(1, kTagPlan, plan.data(), plan.size()).ok());
    ASSERT_TRUE(a.Send(1, kTagAck, ack.data(), ack.size()).ok());
  }
  // Tags are independent streams: read all acks first, then the plans, each in order.
  for (int i = 0; i < 3; ++i) {
    auto ack = b.RecvMessage(0, kTagAck, In(milliseconds(1000)));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(*ack, "ack" + std::to_string(i));
  }
  for (int i = 0; i < 3; ++i) {
    auto plan = b.RecvMessage(0, kTagPlan, In(milliseconds(1000)));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(*plan, "plan" + std::to_string(i));
  }
}

TEST(LocalCommunicatorTest, MessagesOfAnySize) {
  auto world = LocalWorld(2);
  for (int64_t size : {0, 1, 7, 1 << 20}) {
    std::string sent(size, '\0');
    for (int64_t i = 0; i < size; ++i) sent[i] = static_cast<char>(i * 31 + 7);
    ASSERT_TRUE(world[1]->Send(0, kTagActivation, sent.data(), size).ok());
    auto got = world[0]->RecvMessage(1, kTagActivation, In(milliseconds(1000)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, sent) << size;
    // Recv of exactly that size.
    ASSERT_TRUE(world[1]->Send(0, kTagActivation, sent.data(), size).ok());
    std::string buffer(size, 'x');
    ASSERT_TRUE(world[0]->Recv(1, kTagActivation, buffer.data(), size).ok());
    EXPECT_EQ(buffer, sent);
  }
}

TEST(LocalCommunicatorTest, RecvOfTheWrongSizeIsInternal) {
  auto world = LocalWorld(2);
  float values[4] = {1, 2, 3, 4};
  ASSERT_TRUE(world[0]->Send(1, kTagActivation, values, sizeof(values)).ok());
  float three[3];
  absl::Status status = world[1]->Recv(0, kTagActivation, three, sizeof(three));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_NE(status.message().find("expected 12 bytes, got 16"), std::string::npos) << status;
}

TEST(LocalCommunicatorTest, DeadlineNamesThePeerAndKeepsLaterMessages) {
  auto world = LocalWorld(3);
  const Clock::time_point start = Clock::now();
  auto got = world[0]->RecvMessage(2, kTagAck, In(milliseconds(50)));
  const auto waited = Clock::now() - start;
  ASSERT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_NE(got.status().message().find("rank 2"), std::string::npos) << got.status();
  EXPECT_GE(waited, milliseconds(50));
  EXPECT_LT(waited, milliseconds(2000));

  int value = 0;
  absl::Status status = world[0]->Recv(1, kTagAck, &value, sizeof(value), In(milliseconds(10)));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("rank 1"), std::string::npos) << status;

  // A message sent after a receive timed out goes to the next receive.
  int sent = 42;
  ASSERT_TRUE(world[2]->Send(0, kTagAck, &sent, sizeof(sent)).ok());
  ASSERT_TRUE(world[0]->Recv(2, kTagAck, &value, sizeof(value), In(milliseconds(1000))).ok());
  EXPECT_EQ(value, 42);
}

TEST(LocalCommunicatorTest, RequestsPollAndWait) {
  auto world = LocalWorld(2);
  auto request = world[0]->IRecvMessage(1, kTagResult);
  ASSERT_TRUE(request.ok());
  auto done = (*request)->Test();
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
  absl::Status status = (*request)->Wait(In(milliseconds(10)));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  std::thread sender([&] {
    std::this_thread::sleep_for(milliseconds(20));
    auto send = world[1]->ISend(0, kTagResult, "result", 6);
    ASSERT_TRUE(send.ok());
    EXPECT_TRUE((*send)->Wait(kNoDeadline).ok());
  });
  EXPECT_TRUE((*request)->Wait(In(milliseconds(5000))).ok());
  sender.join();
  EXPECT_EQ((*request)->message(), "result");
}

TEST(LocalCommunicatorTest, BadRanksAreRefused) {
  auto world = LocalWorld(2);
  EXPECT_EQ(world[0]->Send(2, kTagPlan, "x", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(world[0]->RecvMessage(-1, kTagPlan).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Values whose float sum depends on the order of addition.
float Value(int rank, int64_t i) {
  const float big[] = {1e8f, 3.0f, -1e8f, 0.1f, 7e7f};
  return big[(rank + i) % 5] * (1.0f + 0.001f * static_cast<float>(i % 13));
}

TEST(LocalCommunicatorTest, AllReduceSumIsTheRankOrderSumOnEveryRank) {
  constexpr int kRanks = 5;
  constexpr int64_t kN = 1000;
  auto world = LocalWorld(kRanks);
  std::vector<std::vector<float>> results(kRanks);
  RunRanks(world, [&](Communicator& comm) {
    std::vector<float> data(kN);
    for (int64_t i = 0; i < kN; ++i) data[i] = Value(comm.rank(), i);
    absl::Status status = comm.AllReduceSum(data.data(), kN, In(milliseconds(5000)));
    EXPECT_TRUE(status.ok()) << status;
    results[comm.rank()] = data;
  });
  std::vector<float> expected(kN);
  for (int64_t i = 0; i < kN; ++i) {
    float sum = Value(0, i);
    for (int r = 1; r < kRanks; ++r) sum += Value(r, i);
    expected[i] = sum;
  }
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_EQ(results[r].size(), expected.size());
    EXPECT_EQ(std::memcmp(results[r].data(), expected.data(), kN * sizeof(float)), 0) << r;
  }
}

TEST(LocalCommunicatorTest, AllReduceSumNamesTheMissingRank) {
  auto world = LocalWorld(3);
  std::vector<absl::Status> status(3);
  RunRanks(world, [&](Communicator& comm) {
    if (comm.rank() == 2) return;  // never joins
    float x = 1;
    status[comm.rank()] = comm.AllReduceSum(&x, 1, In(milliseconds(100)));
  });
  EXPECT_EQ(status[0].code(), absl::StatusCode::kDeadlineExceeded) << status[0];
  EXPECT_NE(status[0].message().find("rank 2"), std::string::npos) << status[0];
  EXPECT_EQ(status[1].code(), absl::StatusCode::kDeadlineExceeded) << status[1];
}

TEST(LocalCommunicatorTest, BarrierWaitsForEveryRank) {
  auto world = LocalWorld(4);
  std::atomic<int> arrived{0};
  std::atomic<int> early{0};
  RunRanks(world, [&](Communicator& comm) {
    std::this_thread::sleep_for(milliseconds(5 * comm.rank()));
    ++arrived;
    EXPECT_TRUE(comm.Barrier(In(milliseconds(5000))).ok());
    if (arrived.load() != 4) ++early;
  });
  EXPECT_EQ(early.load(), 0);
}

TEST(LocalCommunicatorTest, SplitGroupsByColorOrdersByKey) {
  constexpr int kRanks = 5;
  auto world = LocalWorld(kRanks);
  std::vector<int> sub_rank(kRanks), sub_size(kRanks);
  std::vector<float> sums(kRanks);
  RunRanks(world, [&](Communicator& comm) {
    // Two splits in a row: the second must not see the first's round.
    auto even_odd = comm.Split(comm.rank() % 2, -comm.rank());
    ASSERT_TRUE(even_odd.ok()) << even_odd.status();
    auto all = comm.Split(0, comm.rank());
    ASSERT_TRUE(all.ok()) << all.status();
    EXPECT_EQ((*all)->rank(), comm.rank());
    EXPECT_EQ((*all)->size(), kRanks);
    sub_rank[comm.rank()] = (*even_odd)->rank();
    sub_size[comm.rank()] = (*even_odd)->size();
    float x = static_cast<float>(comm.rank());
    EXPECT_TRUE((*even_odd)->AllReduceSum(&x, 1, In(milliseconds(5000))).ok());
    sums[comm.rank()] = x;
  });
  // Even ranks {0, 2, 4} ordered by key -rank: 4, 2, 0. Odd ranks {1, 3}: 3, 1.
  EXPECT_EQ(sub_rank, (std::vector<int>{2, 1, 1, 0, 0}));
  EXPECT_EQ(sub_size, (std::vector<int>{3, 2, 3, 2, 3}));
  EXPECT_EQ(sums, (std::vector<float>{6, 4, 6, 4, 6}));
}

}  // namespace
}  // namespace moe::comm
