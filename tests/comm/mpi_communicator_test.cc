// The MPI transport under a real `mpirun -np 3` (tests/comm/CMakeLists.txt): every rank runs
// every test; the ranks meet through the world communicator. Every wait has a deadline, so a
// failing rank makes the others fail instead of hanging.
#include <cstdlib>
#include <cstring>
#include <set>

#include "comm/communicator.h"
#include "gtest/gtest.h"

namespace moe::comm {
namespace {

using std::chrono::milliseconds;

Communicator* world = nullptr;

Clock::time_point Soon() { return Clock::now() + milliseconds(5000); }

std::string Pattern(int rank, int64_t size) {
  std::string bytes(size, '\0');
  for (int64_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(rank * 101 + i * 7);
  return bytes;
}

TEST(MpiCommunicatorTest, WorldOfThreeRanks) {
  EXPECT_EQ(world->size(), 3);
  EXPECT_EQ(world->transport(), "mpi");
  EXPECT_FALSE(world->host().empty());
  EXPECT_TRUE(LaunchedByMpirun());
}

// Under scripts/netns/mpirun-netns.sh every rank has its own host (MOE_EXPECT_DISTINCT_HOSTS=1).
TEST(MpiCommunicatorTest, HostsAreDistinctWhenExpected) {
  const char* expect = std::getenv("MOE_EXPECT_DISTINCT_HOSTS");
  if (expect == nullptr || std::string(expect) != "1") GTEST_SKIP() << "ranks share a host";
  const std::string host = world->host();
  if (world->rank() != 0) {
    ASSERT_TRUE(world->Send(0, kTagControl, host.data(), host.size(), Soon()).ok());
    return;
  }
  std::set<std::string> hosts = {host};
  for (int r = 1; r < world->size(); ++r) {
    auto other = world->RecvMessage(r, kTagControl, Soon());
    ASSERT_TRUE(other.ok()) << other.status();
    hosts.insert(*other);
  }
  EXPECT_EQ(static_cast<int>(hosts.size()), world->size());
}

TEST(MpiCommunicatorTest, RingOfMessagesOfAnySize) {
  const int next = (world->rank() + 1) % world->size();
  const int prev = (world->rank() + world->size() - 1) % world->size();
  // 1 MiB goes through OpenMPI's rendezvous protocol, the rest are eager.
  for (int64_t size : {0, 1, 4096, 1 << 20}) {
    const std::string sent = Pattern(world->rank(), size);
    auto send = world->ISend(next, kTagActivation, sent.data(), size);
    ASSERT_TRUE(send.ok()) << send.status();
    auto got = world->RecvMessage(prev, kTagActivation, Soon());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, Pattern(prev, size)) << size;
    ASSERT_TRUE((*send)->Wait(Soon()).ok());
    // The same with Recv of exactly that size.
    send = world->ISend(next, kTagActivation, sent.data(), size);
    ASSERT_TRUE(send.ok());
    std::string buffer(size, 'x');
    absl::Status status = world->Recv(prev, kTagActivation, buffer.data(), size, Soon());
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(buffer, Pattern(prev, size));
    ASSERT_TRUE((*send)->Wait(Soon()).ok());
  }
}

TEST(MpiCommunicatorTest, OrderIsKeptPerTag) {
  if (world->rank() == 0) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(world->Send(1, kTagPlan, &i, sizeof(i), Soon()).ok());
      int ack = 100 + i;
      ASSERT_TRUE(world->Send(1, kTagAck, &ack, sizeof(ack), Soon()).ok());
    }
  } else if (world->rank() == 1) {
    for (int tag : {kTagAck, kTagPlan}) {
      for (int i = 0; i < 3; ++i) {
        int value = -1;
        ASSERT_TRUE(world->Recv(0, tag, &value, sizeof(value), Soon()).ok());
        EXPECT_EQ(value, tag == kTagAck ? 100 + i : i);
      }
    }
  }
  ASSERT_TRUE(world->Barrier(Soon()).ok());
}

TEST(MpiCommunicatorTest, WrongSizesAreInternal) {
  if (world->rank() == 0) {
    float four[4] = {1, 2, 3, 4};
    ASSERT_TRUE(world->Send(1, kTagActivation, four, sizeof(four), Soon()).ok());
    ASSERT_TRUE(world->Send(1, kTagActivation, four, sizeof(four), Soon()).ok());
  } else if (world->rank() == 1) {
    float buffer[8];
    absl::Status shorter = world->Recv(0, kTagActivation, buffer, 3 * sizeof(float), Soon());
    EXPECT_EQ(shorter.code(), absl::StatusCode::kInternal) << shorter;
    absl::Status longer = world->Recv(0, kTagActivation, buffer, 8 * sizeof(float), Soon());
    EXPECT_EQ(longer.code(), absl::StatusCode::kInternal) << longer;
    EXPECT_NE(longer.message().find("expected 32 bytes, got 16"), std::string::npos) << longer;
  }
  ASSERT_TRUE(world->Barrier(Soon()).ok());
}

TEST(MpiCommunicatorTest, DeadlineNamesThePeerAndKeepsLaterMessages) {
  if (world->rank() == 1) {
    const Clock::time_point start = Clock::now();
    int value = 0;
    absl::Status status =
        world->Recv(2, kTagAck, &value, sizeof(value), Clock::now() + milliseconds(50));
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
    EXPECT_NE(status.message().find("rank 2"), std::string::npos) << status;
    EXPECT_GE(Clock::now() - start, milliseconds(50));
    auto message = world->RecvMessage(2, kTagAck, Clock::now() + milliseconds(20));
    EXPECT_EQ(message.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_NE(message.status().message().find("rank 2"), std::string::npos) << message.status();
  }
  ASSERT_TRUE(world->Barrier(Soon()).ok());
  // The timed-out receives were taken back: rank 2's message goes to the next one.
  if (world->rank() == 2) {
    int value = 42;
    ASSERT_TRUE(world->Send(1, kTagAck, &value, sizeof(value), Soon()).ok());
  } else if (world->rank() == 1) {
    int value = 0;
    ASSERT_TRUE(world->Recv(2, kTagAck, &value, sizeof(value), Soon()).ok());
    EXPECT_EQ(value, 42);
  }
  ASSERT_TRUE(world->Barrier(Soon()).ok());
}

// Values whose float sum depends on the order of addition.
float Value(int rank, int64_t i) {
  const float big[] = {1e8f, 3.0f, -1e8f, 0.1f, 7e7f};
  return big[(rank + i) % 5] * (1.0f + 0.001f * static_cast<float>(i % 13)) + rank;
}

TEST(MpiCommunicatorTest, AllReduceSumIsTheRankOrderSumOnEveryRank) {
  constexpr int64_t kN = 4096;
  std::vector<float> data(kN), expected(kN);
  for (int64_t i = 0; i < kN; ++i) {
    data[i] = Value(world->rank(), i);
    expected[i] = Value(0, i);
    for (int r = 1; r < world->size(); ++r) expected[i] += Value(r, i);
  }
  ASSERT_TRUE(world->AllReduceSum(data.data(), kN, Soon()).ok());
  EXPECT_EQ(std::memcmp(data.data(), expected.data(), kN * sizeof(float)), 0);
}

TEST(MpiCommunicatorTest, SplitGroupsByColorOrdersByKey) {
  const int rank = world->rank();
  auto sub = world->Split(rank % 2, -rank);
  ASSERT_TRUE(sub.ok()) << sub.status();
  // Even ranks {0, 2} ordered by key -rank: 2, 0. Odd rank {1} alone.
  const int expected_rank[] = {1, 0, 0};
  const int expected_size[] = {2, 1, 2};
  EXPECT_EQ((*sub)->rank(), expected_rank[rank]);
  EXPECT_EQ((*sub)->size(), expected_size[rank]);
  float x = static_cast<float>(rank);
  ASSERT_TRUE((*sub)->AllReduceSum(&x, 1, Soon()).ok());
  EXPECT_EQ(x, rank % 2 == 0 ? 2.0f : 1.0f);
  ASSERT_TRUE(world->Barrier(Soon()).ok());
}

}  // namespace
}  // namespace moe::comm

int main(int argc, char** argv) {
  auto world = moe::comm::MpiWorld();
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", std::string(world.status().message()).c_str());
    return 1;
  }
  moe::comm::world = world->get();
  if ((*world)->rank() != 0) GTEST_FLAG_SET(brief, true);  // failures only
  testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  world->reset();
  return failed;
}
