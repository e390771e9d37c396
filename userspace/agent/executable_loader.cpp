#include "agent/executable_loader.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "agent/executable_fetch.h"

namespace dwcp::agent {

struct ExecutableLoader::Job {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  Result<LoadedExecutable> outcome = Error{"not read"};
  int pid = 0;
  std::chrono::steady_clock::time_point started;
  std::atomic<pid_t> helper{0};  // the read helper while it runs: killed when the read is given up
};

namespace {

Result<LoadedExecutable> read_executable(const LoadRequest& request, const std::vector<std::string>& allow_fs,
                                         ParsedCache* cache, std::atomic<pid_t>* helper) {
  // Before anything is opened: the mount table says which file system the executable is on. A
  // FUSE server would answer the open and every read itself (and claim any owner it likes).
  FetchRequest fetch{request.pid, request.expected, true, request.skip_non_go};
  if (request.expected.mnt_id != 0) {
    const std::string type = mount_type(request.pid, request.expected.mnt_id);
    const bool allowed = !type.empty() && std::find(allow_fs.begin(), allow_fs.end(), type) != allow_fs.end();
    if (!allowed && !trusted_fs_type(type))
      return Error{"its executable is on a file system of type " + (type.empty() ? "unknown" : "\"" + type + "\"") +
                       ", whose owners the kernel cannot vouch for: nothing read (--allow-fs " +
                       (type.empty() ? "TYPE" : type) + " allows it)",
                   0, ErrorKind::kUntrustedFileSystem};
    fetch.check_magic = !allowed;
  }
  const std::shared_ptr<const ParsedCache::Parsed> cached = cache->find(request.expected);
  fetch.open_only = cached != nullptr;
  Result<Fetched> got = fetch_executable(fetch, helper);
  if (!got) return got.failure();
  Fetched& fetched = *got;
  LoadedExecutable loaded;
  loaded.file = fetched.file;
  if (cached) {
    // The helper opened the file parsed before: it checked the descriptor's identity against
    // request.expected, the cache's key.
    loaded.parsed = cached;
    loaded.has_package = true;
  } else if (!fetched.copy) {
    loaded.parsed = std::make_shared<const ParsedBinary>(ParsedBinary{Error{"not a Go binary"}, nullptr});
  } else {
    // The parsers read the helper's copy (sealed memory, which cannot stall); they map it, and
    // the mappings keep it alive after this descriptor is closed.
    auto parsed = std::make_shared<ParsedBinary>();
    parsed->binary = goelf::GoBinary::open("/proc/self/fd/" + std::to_string(fetched.copy.get()));
    Result<goelf::GoBinary>& binary = parsed->binary;
    // Uprobes run the target's own code: one of another machine (under an emulator) cannot be probed.
    if (binary && binary->arch() != goelf::native_arch()) {
      binary = Error{std::string("an ") + goelf::arch_name(binary->arch()) + " binary, and this agent is " +
                     goelf::arch_name(goelf::native_arch()) + ": its probes cannot run there"};
    }
    loaded.has_package = binary && binary->holds_package(request.package);
    if (loaded.has_package)
      parsed->dwarf = std::make_shared<DwarfOnDemand>(std::move(fetched.copy));  // read when first asked for
    fetched.copy.reset();
    loaded.parsed = parsed;
    if (loaded.has_package) cache->insert(fetched.file->identity(), parsed);
  }
  return loaded;
}

}  // namespace

const Result<goelf::DwarfTypes>& DwarfOnDemand::get() {
  std::call_once(once_, [this] { dwarf_ = goelf::DwarfTypes::open("/proc/self/fd/" + std::to_string(copy_.get())); });
  return dwarf_;
}

const Result<goelf::GoBinary>& LoadedExecutable::binary() const {
  static const Result<goelf::GoBinary> not_read = Error{"not read"};
  return parsed ? parsed->binary : not_read;
}

const Result<goelf::DwarfTypes>& LoadedExecutable::dwarf() const {
  static const Result<goelf::DwarfTypes> not_read = Error{"not read"};
  return parsed && parsed->dwarf ? parsed->dwarf->get() : not_read;
}

std::shared_ptr<const ParsedCache::Parsed> ParsedCache::find(const FileIdentity& file) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(file);
  return it == entries_.end() ? nullptr : it->second;
}

void ParsedCache::insert(const FileIdentity& file, std::shared_ptr<const Parsed> parsed) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= kMaxEntries) entries_.clear();  // re-reading beats growing
  entries_[file] = std::move(parsed);
}

std::size_t ParsedCache::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

Refusal load_refusal(const Error& error) {
  switch (error.kind) {
    case ErrorKind::kStuck:
    case ErrorKind::kStopped:
      return Refusal::kStuck;
    case ErrorKind::kUntrustedFileSystem:
      return Refusal::kFileSystem;
    default:
      return Refusal::kUnreadable;
  }
}

ExecutableLoader::~ExecutableLoader() = default;  // abandoned workers keep their own Job alive

Result<LoadedExecutable> ExecutableLoader::load(const LoadRequest& request, const std::atomic<bool>* stop) {
  if (stuck().size() >= kMaxStuck)
    return Error{std::to_string(kMaxStuck) + " reads of executables are stuck already: not starting another", 0,
                 ErrorKind::kStuck};
  auto job = std::make_shared<Job>();
  job->pid = request.pid;
  job->started = std::chrono::steady_clock::now();
  // Detached from the start: a worker blocked in the kernel must never be joined.
  std::thread([job, request, allow_fs = allow_fs_, cache = cache_] {
    Result<LoadedExecutable> outcome = read_executable(request, allow_fs, cache.get(), &job->helper);
    std::lock_guard<std::mutex> lock(job->mutex);
    job->outcome = std::move(outcome);
    job->done = true;
    job->done_cv.notify_all();
  }).detach();

  const auto deadline = job->started + deadline_;
  std::unique_lock<std::mutex> lock(job->mutex);
  while (!job->done) {
    if (stop && stop->load()) {
      give_up(job, true);
      return Error{"stopped while reading the executable of process " + std::to_string(request.pid), 0,
                   ErrorKind::kStopped};
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      give_up(job, false);
      return Error{"reading the executable of process " + std::to_string(request.pid) + " did not finish within " +
                       std::to_string(deadline_.count()) +
                       " ms (a stalled file system?): given up, not attached; readiness reports it until the read ends",
                   0, ErrorKind::kStuck};
    }
    job->done_cv.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
  return std::move(job->outcome);
}

void ExecutableLoader::give_up(const std::shared_ptr<Job>& job, bool stopping) {
  // Past the deadline the helper is left waiting: the read stays reported as stuck (readiness)
  // and the file is not tried again until it ends, rather than stalling every discovery pass.
  // Stopping, it is killed (it would be anyway as the agent exits: PR_SET_PDEATHSIG); a read
  // the file system already took keeps only the helper, never the agent, in the kernel.
  if (const pid_t helper = job->helper.load(); stopping && helper > 0) ::kill(helper, SIGKILL);
  abandoned_.push_back(job);
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
