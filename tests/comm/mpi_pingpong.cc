// Ping-pong latency between ranks 0 and 1 (run by hand:
// mpirun -np 2 mpi_pingpong [rounds] [work_us]): the Communicator (polling with backoff)
// against plain MPI_Send/MPI_Recv (OpenMPI spins), for 8-byte and 64 KiB messages; rank 1
// computes (spins) for work_us before each answer, as a worker does. Prints the median round
// trip of 5 runs in microseconds.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace {

using moe::comm::Clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One run of `rounds` round trips; microseconds per round trip.
double Run(moe::comm::Communicator& comm, bool raw, int64_t bytes, int rounds, int work_us) {
  std::string buffer(bytes, 'x');
  const int peer = 1 - comm.rank();
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool sending = (turn == 0) == (comm.rank() == 0);
      if (sending && comm.rank() == 1) {
        const Clock::time_point until = Clock::now() + std::chrono::microseconds(work_us);
        while (Clock::now() < until) {
        }
      }
      if (raw) {
        if (sending) {
          MPI_Send(buffer.data(), bytes, MPI_BYTE, peer, 9, MPI_COMM_WORLD);
        } else {
          MPI_Recv(buffer.data(), bytes, MPI_BYTE, peer, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
      } else {
        absl::Status status = sending ? comm.Send(peer, 9, buffer.data(), bytes)
                                      : comm.Recv(peer, 9, buffer.data(), bytes);
        if (!status.ok()) std::abort();
      }
    }
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / rounds;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int work_us = argc > 2 ? std::atoi(argv[2]) : 0;
  auto world = moe::comm::MpiWorld();
  if (!world.ok() || (*world)->size() != 2) {
    std::fprintf(stderr, "run with mpirun -np 2\n");
    return 1;
  }
  for (int64_t bytes : {8, 64 << 10}) {
    for (bool raw : {true, false}) {
      std::vector<double> runs;
      for (int run = 0; run < 5; ++run) runs.push_back(Run(**world, raw, bytes, rounds, work_us));
      if ((*world)->rank() == 0) {
        std::printf("%-22s %6lld bytes, work %5d us: %8.1f us per round trip (median of 5 x %d)\n",
                    raw ? "MPI_Send/MPI_Recv" : "Communicator (backoff)",
                    static_cast<long long>(bytes), work_us, Median(runs), rounds);
      }
    }
  }
  world->reset();
  return 0;
}
