#include "agent/executable_loader.h"

#include <algorithm>
#include <thread>

namespace dwcp::agent {

struct ExecutableLoader::Job {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  LoadOutcome outcome;
  int pid = 0;
  std::chrono::steady_clock::time_point started;
};

namespace {

LoadOutcome read_executable(const LoadRequest& request) {
  LoadOutcome out;
  auto file = ExecutableFile::open(request.pid);
  if (!file) {
    out.refusal = Refusal::kUnreadable;
    out.error = file.error();
    return out;
  }
  const FileIdentity& got = (*file)->identity();
  if (!(got == request.expected) || got.owner != request.expected.owner || got.mode != request.expected.mode) {
    out.refusal = Refusal::kUnreadable;
    out.error = "process " + std::to_string(request.pid) +
                " runs another file than the one it was judged by (it execve()d, or the file changed): "
                "nothing read";
    return out;
  }
  LoadedExecutable loaded;
  loaded.file = *file;
  if (request.skip_non_go && !loaded.file->looks_like_go()) {
    loaded.binary = Error{"not a Go binary"};
  } else {
    loaded.binary = goelf::GoBinary::open(loaded.file->path());
    // Uprobes run the target's own code: one of another machine (under an emulator) cannot be probed.
    if (loaded.binary && loaded.binary->arch() != goelf::native_arch()) {
      loaded.binary =
          Error{std::string("an ") + goelf::arch_name(loaded.binary->arch()) + " binary, and this agent is " +
                goelf::arch_name(goelf::native_arch()) + ": its probes cannot run there"};
    }
    loaded.has_package = loaded.binary && holds_package(*loaded.binary, request.package);
    if (loaded.has_package) loaded.dwarf = goelf::DwarfTypes::open(loaded.file->path());
  }
  out.loaded = std::move(loaded);
  return out;
}

}  // namespace

bool holds_package(const goelf::GoBinary& binary, const std::string& package) {
  return goelf::holds_package(binary.function_names(), package);
}

ExecutableLoader::~ExecutableLoader() = default;  // abandoned workers keep their own Job alive

LoadOutcome ExecutableLoader::load(const LoadRequest& request, const std::atomic<bool>* stop) {
  if (stuck().size() >= kMaxStuck) {
    LoadOutcome out;
    out.refusal = Refusal::kStuck;
    out.error = std::to_string(kMaxStuck) + " reads of executables are stuck already: not starting another";
    return out;
  }
  auto job = std::make_shared<Job>();
  job->pid = request.pid;
  job->started = std::chrono::steady_clock::now();
  // Detached from the start: a worker blocked in the kernel must never be joined.
  std::thread([job, request] {
    LoadOutcome outcome = read_executable(request);
    std::lock_guard<std::mutex> lock(job->mutex);
    job->outcome = std::move(outcome);
    job->done = true;
    job->done_cv.notify_all();
  }).detach();

  const auto deadline = job->started + deadline_;
  std::unique_lock<std::mutex> lock(job->mutex);
  while (!job->done) {
    if (stop && stop->load()) {
      LoadOutcome out;
      out.stopped = true;
      out.refusal = Refusal::kStuck;
      out.error = "stopped while reading the executable of process " + std::to_string(request.pid);
      abandoned_.push_back(job);
      return out;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      LoadOutcome out;
      out.refusal = Refusal::kStuck;
      out.error = "reading the executable of process " + std::to_string(request.pid) + " did not finish within " +
                  std::to_string(deadline_.count()) +
                  " ms (a stalled file system?): given up, not attached; readiness reports it until the read ends";
      abandoned_.push_back(job);
      return out;
    }
    job->done_cv.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
  return std::move(job->outcome);
}

std::vector<int> ExecutableLoader::stuck_pids() {
  stuck();  // forget the finished ones
  std::vector<int> pids;
  for (const auto& job : abandoned_) pids.push_back(job->pid);
  return pids;
}

std::vector<std::string> ExecutableLoader::stuck() {
  std::vector<std::string> out;
  const auto now = std::chrono::steady_clock::now();
  abandoned_.erase(std::remove_if(abandoned_.begin(), abandoned_.end(),
                                  [&](const std::shared_ptr<Job>& job) {
                                    std::lock_guard<std::mutex> lock(job->mutex);
                                    if (job->done) return true;
                                    const auto seconds =
                                        std::chrono::duration_cast<std::chrono::seconds>(now - job->started).count();
                                    out.push_back("process " + std::to_string(job->pid) +
                                                  " (reading its executable, stuck for " + std::to_string(seconds) +
                                                  " s)");
                                    return false;
                                  }),
                   abandoned_.end());
  return out;
}

}  // namespace dwcp::agent
