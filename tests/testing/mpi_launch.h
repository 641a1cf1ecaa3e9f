// How the tests start MPI jobs on this machine: every rank local, allowed to run as root (CI
// does), ranks not pinned (2 cores, up to 5 ranks), vader without single-copy (CMA needs ptrace
// rights that containers often lack), and the failure handling moe-serve documents: mpirun does
// not kill the job when a rank dies (rank 0 notices within --step-timeout, names the rank and
// aborts the job itself), and an abort kills the ranks at once.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace moe::testing {

inline bool MpirunAvailable() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

inline std::vector<std::string> MpirunCommand(int np) {
  return {"mpirun",
          "--allow-run-as-root",
          "--oversubscribe",
          "--bind-to",
          "none",
          "--mca",
          "btl_vader_single_copy_mechanism",
          "none",
          "--mca",
          "orte_abort_on_non_zero_status",
          "0",
          "--mca",
          "odls_base_sigkill_timeout",
          "0",
          "-np",
          std::to_string(np)};
}

}  // namespace moe::testing
