// The budget controller (agent/probe_budget.h): measured costs in, sampling ratios out. No kernel.
#include "agent/probe_budget.h"

#include <gtest/gtest.h>

#include <cmath>

#include "agent/bpf_stats.h"

using namespace dwcp::agent;

TEST(RunStats, MeanNanosecondsPerRunBetweenReadings) {
  EXPECT_DOUBLE_EQ(ns_per_run({1000, 10}, {3000, 20}), 200.0);
  EXPECT_DOUBLE_EQ(ns_per_run({1000, 10}, {1000, 10}), 0.0);  // did not run: no division by 0
  EXPECT_DOUBLE_EQ(ns_per_run({0, 0}, {0, 0}), 0.0);          // stats off
  EXPECT_DOUBLE_EQ(ns_per_run({5000, 10}, {100, 20}), 0.0);   // program replaced: no negative
}

TEST(ProbeBudget, WithinBudgetSamplesNothing) {
  ProbeBudget budget({/*max_share=*/0.05});
  // 1,000 hits x 5 us = 5 ms; the target used 2 s of CPU in 1 s (two cores): 0.25 %.
  auto d = budget.evaluate({{"send", 1000}}, 4000, 1000, 2.0, 1.0);
  EXPECT_NEAR(d.overhead_seconds, 0.005, 1e-12);
  EXPECT_NEAR(d.share, 0.0025, 1e-12);
  EXPECT_TRUE(d.ratios.empty());
  EXPECT_NEAR(d.share_after, d.share, 1e-12);
}

TEST(ProbeBudget, QuietTargetIsJudgedAsAShareOfOneCore) {
  // The real DWCP, mostly idle (issue #25): 10 s interval, the target used 40 ms of CPU of which
  // the probes 8 ms (1,600 hits x 5 us). Against its own CPU that is 20 %; against the former
  // 50 ms floor 16 %; what it costs the machine is 8 ms of one core's 10 s: 0.08 %. Nothing goes.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"send", 800}, {"encode", 800}}, 5000, 0, 0.040, 10.0);
  EXPECT_NEAR(d.share, 0.008 / 10.0, 1e-12);
  EXPECT_DOUBLE_EQ(d.judged_seconds, 10.0);
  EXPECT_DOUBLE_EQ(d.target_cpu_seconds, 0.040);  // reported as measured
  EXPECT_TRUE(d.ratios.empty());
}

TEST(ProbeBudget, BusyTargetIsJudgedAgainstItsOwnCpu) {
  // 4 s of CPU in 2 s (two busy cores): 100 ms of probes is 2.5 % of it, not 5 % of one core.
  ProbeBudget budget({0.03});
  auto d = budget.evaluate({{"send", 20000}}, 5000, 0, 4.0, 2.0);
  EXPECT_DOUBLE_EQ(d.judged_seconds, 4.0);
  EXPECT_NEAR(d.share, 0.025, 1e-12);
  EXPECT_TRUE(d.ratios.empty());
}

TEST(ProbeBudget, QuietTargetOverBudgetIsSampledToFitOneCore) {
  // 10 s interval, target CPU 1 s (quiet): send costs 0.5 s (100,000 hits x 5 us), 5 % of one
  // core. Budget 2 %: send may cost 0.2 s, so it is attached 0.2 / 0.5 = 40 % of the interval.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"send", 100000}, {"session_start", 0, false}}, 5000, 0, 1.0, 10.0);
  EXPECT_NEAR(d.share, 0.05, 1e-12);
  ASSERT_EQ(d.ratios.count("send"), 1u);
  EXPECT_NEAR(d.ratios.at("send"), 0.40, 1e-9);
  EXPECT_LE(d.share_after, 0.02 + 1e-12);
  EXPECT_EQ(d.ratios.count("session_start"), 0u);
}

TEST(ProbeBudget, BusyTargetOverBudgetIsSampledToFitItsOwnCpu) {
  // 1 s interval, 2 s of target CPU of which send_chunk 0.2 s and receive_chunk 0.1 s (15 %).
  // Budget 5 %: send_chunk alone at its floor leaves 0.01 + 0.1 of 1.81 s = 6.1 %: receive_chunk is
  // sampled too, at the largest ratio that fits.
  ProbeBudget budget({0.05});
  auto d = budget.evaluate({{"send_chunk", 40000}, {"receive_chunk", 20000}}, 5000, 0, 2.0, 1.0);
  ASSERT_EQ(d.costs[0].probe, "send_chunk");
  // send_chunk: r <= (0.05 x 1.8 - 0.1) / (0.2 x 0.95) < 0, or (0.05 x 1 - 0.1) / 0.2 < 0: the floor.
  EXPECT_NEAR(d.ratios.at("send_chunk"), kSampleRatioStep, 1e-12);
  // receive_chunk, others 0.01 s, CPU without it 1.81 - 0.1 = 1.71 s:
  // r <= (0.05 x 1.71 - 0.01) / (0.1 x 0.95) = 0.795 -> 0.75.
  EXPECT_NEAR(d.ratios.at("receive_chunk"), 0.75, 1e-12);
  EXPECT_LE(d.share_after, 0.05);
}

TEST(ProbeBudget, SampledProbeIsJudgedAtItsFullTimeCost) {
  // send was attached 40 % of the interval: its 40,000 hits stand for 100,000, and the 0.3 s it
  // did not cost are added to the target's CPU. The same ratio again: a stable decision.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"send", 40000, true, 0.4}}, 5000, 0, 0.7, 10.0);
  ASSERT_EQ(d.costs.size(), 1u);
  EXPECT_NEAR(d.costs[0].seconds, 0.2, 1e-12);
  EXPECT_NEAR(d.costs[0].full_seconds, 0.5, 1e-12);
  EXPECT_NEAR(d.share, 0.02, 1e-12);
  EXPECT_NEAR(d.share_full, 0.05, 1e-12);
  EXPECT_NEAR(d.ratios.at("send"), 0.40, 1e-9);
}

TEST(ProbeBudget, SampledProbeComesBackWhenTheTrafficFalls) {
  // Fewer sends: attached a fifth of the time they stand for 25,000 hits, 0.125 s of one core's
  // 10 s: 1.25 %, within 2 %: attached all the time again.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"send", 5000, true, 0.2}}, 5000, 0, 0.2, 10.0);
  EXPECT_NEAR(d.share_full, 0.0125, 1e-12);
  EXPECT_TRUE(d.ratios.empty());
}

TEST(ProbeBudget, ZeroBudgetMeansNoPolicy) {
  ProbeBudget budget({0.0});
  auto d = budget.evaluate({{"send_chunk", 1000000}}, 5000, 0, 1.0, 1.0);
  EXPECT_GT(d.share, 0.5);
  EXPECT_TRUE(d.ratios.empty());
}

TEST(ProbeBudget, ProbesWithoutHitsAreNeverSampled) {
  ProbeBudget budget({0.001});
  auto d = budget.evaluate({{"idle", 0}, {"hot", 100000}}, 5000, 0, 1.0, 1.0);
  EXPECT_EQ(d.ratios.count("idle"), 0u);
  EXPECT_EQ(d.ratios.count("hot"), 1u);
}

TEST(ProbeBudget, NoTimeAtAllIsNoShare) {
  // A zero-length interval and a target that used no CPU: no division by zero.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"send", 0}}, 5000, 0, 0.0, 0.0);
  EXPECT_DOUBLE_EQ(d.share, 0.0);
  EXPECT_DOUBLE_EQ(d.share_after, 0.0);
  EXPECT_TRUE(d.ratios.empty());
}

TEST(ProbeBudget, EstimateAboveMeasuredCpuSamplesAtTheFloor) {
  // A calibration taken at a busier moment may estimate more than the target's CPU: judged
  // against one core, the candidates go to the floor, never away.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"a", 1000000}, {"b", 100000}}, 5000, 0, 0.001, 1.0);
  EXPECT_NEAR(d.ratios.at("a"), kSampleRatioStep, 1e-12);
  EXPECT_NEAR(d.ratios.at("b"), kSampleRatioStep, 1e-12);
  EXPECT_GT(d.share_after, 0.02);  // what still costs is said, not hidden
}

TEST(ProbeBudget, EqualCostsSampleInNameOrder) {
  // Two probes of 0.05 s each in 1 s of one core, budget 6.8 %: the first in name order is sampled
  // (ratio (0.068 - 0.05) / 0.05 = 0.36, down to 0.35), and then the rest fits.
  ProbeBudget budget({0.068});
  auto d = budget.evaluate({{"zeta", 10000}, {"alpha", 10000}}, 5000, 0, 0.5, 1.0);
  EXPECT_NEAR(d.ratios.at("alpha"), 0.35, 1e-9);
  EXPECT_EQ(d.ratios.count("zeta"), 0u);
}

TEST(ProbeBudget, RatiosAreStepsAndNeverAboveTheFit) {
  for (std::uint64_t hits = 50000; hits < 400000; hits += 12345) {
    ProbeBudget budget({0.02});
    auto d = budget.evaluate({{"send", hits}}, 5000, 0, 1.0, 10.0);
    ASSERT_EQ(d.ratios.size(), 1u) << hits;
    const double r = d.ratios.at("send");
    EXPECT_NEAR(r / kSampleRatioStep, std::round(r / kSampleRatioStep), 1e-9) << hits;
    EXPECT_LE(d.share_after, 0.02 + 1e-12) << hits;
  }
}

// ---- the socket programs ---------------------------------------------------------------------

TEST(SocketCost, ChargedByTheTargetsShareOfTheRuns) {
  // 2 ms of socket programs over 4,000 runs, 3,000 of them the targets' calls and RTT samples.
  EXPECT_NEAR(socket_seconds_in_targets(2000000, 4000, 3000), 0.0015, 1e-12);
  EXPECT_NEAR(socket_seconds_in_targets(2000000, 4000, 4000), 0.002, 1e-12);
  EXPECT_DOUBLE_EQ(socket_seconds_in_targets(2000000, 0, 0), 0.0);     // did not run
  EXPECT_DOUBLE_EQ(socket_seconds_in_targets(2000000, 4000, 0), 0.0);  // other processes only
  // Counted calls read after the programs' stats may exceed the runs: never more than all of it.
  EXPECT_NEAR(socket_seconds_in_targets(2000000, 4000, 4100), 0.002, 1e-12);
}

TEST(ProbeBudget, SocketTimeIsOverheadAndExportedButDrivesNoSampling) {
  // A big transfer: 1 s interval, the target used 0.5 s of CPU, of which 25 ms in the socket
  // programs (5 %) and 40 uprobe hits x 5 us = 0.2 ms. Budget 2 %: the share says 5 %, yet
  // nothing is sampled: sampling send cannot cut the socket programs' time.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"send", 40}}, 4000, 1000, 0.5, 1.0, 0.025);
  EXPECT_NEAR(d.socket_seconds, 0.025, 1e-12);
  EXPECT_NEAR(d.overhead_seconds, 0.0252, 1e-12);
  EXPECT_NEAR(d.share, 0.0252, 1e-12);  // judged against one core (0.5 s of CPU is less)
  EXPECT_TRUE(d.ratios.empty());
  EXPECT_NEAR(d.share_after, d.share, 1e-12);
  ASSERT_EQ(d.costs.front().probe, "socket");  // costliest first, exported as probe "socket"
  EXPECT_NEAR(d.costs.front().seconds, 0.025, 1e-12);
  EXPECT_FALSE(d.costs.front().demotable);
}

TEST(ProbeBudget, UprobesOverBudgetAreSampledAsIfTheSocketTimeWereNotThere) {
  // The same send at 100,000 hits (0.5 s of one core's 10 s: 5 %) beside 0.3 s of socket
  // programs: send gets the ratio that fits its own 2 %, 40 %, as without the sockets.
  ProbeBudget budget({0.02});
  auto with = budget.evaluate({{"send", 100000}}, 5000, 0, 1.0, 10.0, 0.3);
  auto without = budget.evaluate({{"send", 100000}}, 5000, 0, 1.0, 10.0);
  EXPECT_NEAR(with.ratios.at("send"), 0.40, 1e-9);
  EXPECT_NEAR(without.ratios.at("send"), 0.40, 1e-9);
  EXPECT_NEAR(with.share_after, without.share_after + 0.03, 1e-12);  // and the sockets' 3 % said
}

// ---- judging early: cut short within an interval ------------------------------------------------

TEST(CutShort, WithinTheIntervalsBudgetCutsNothing) {
  // 10 s interval, 2 % of one core: 0.2 s. 30,000 hits x 5 us = 0.15 s after 3 s: a pace above
  // the budget's, but the whole interval's allowance is not spent: the tick will judge it.
  ProbeBudget budget({0.02});
  EXPECT_TRUE(budget.cut_short({{"send", 30000}}, 5000, 0, 0.5, 3.0, 10.0).empty());
}

TEST(CutShort, ABurstSpendingTheIntervalsBudgetIsCutAtOnce) {
  // 20,000 small Sends in half a second (issue #25): send and receive, 40,000 hits each x 5 us
  // = 0.2 s each after 0.5 s, against 0.2 s for the whole 10 s: both cut now, encode (a few hits)
  // stays, session_close is never a candidate.
  ProbeBudget budget({0.02});
  auto cut = budget.cut_short({{"send", 40000}, {"receive", 40000}, {"encode", 10}, {"session_close", 4, false}}, 5000,
                              0, 0.6, 0.5, 10.0);
  EXPECT_EQ(cut, (std::vector<std::string>{"receive", "send"}));
}

TEST(CutShort, AProbeThatCostNextToNothingStays) {
  // After 5 s of 10: allowance 0.2 s. send 0.25 s and decode 0.03 s go together (decode costs
  // more than a tenth of the allowance), encode's 0.015 s is less: it stays attached.
  ProbeBudget budget({0.02});
  auto cut = budget.cut_short({{"send", 50000}, {"encode", 3000}, {"decode", 6000}}, 5000, 0, 1.0, 5.0, 10.0);
  EXPECT_EQ(cut, (std::vector<std::string>{"send", "decode"}));
}

TEST(CutShort, ABusyTargetIsAllowedItsShareOfItsOwnCpu) {
  // Two busy cores for 6 s: 12 s of CPU, 2 % of it 0.24 s: 0.225 s of send so far is within it,
  // though above 2 % of one core's interval (0.2 s).
  ProbeBudget budget({0.02});
  EXPECT_TRUE(budget.cut_short({{"send", 45000}}, 5000, 0, 12.0, 6.0, 10.0).empty());
  EXPECT_EQ(budget.cut_short({{"send", 45000}}, 5000, 0, 1.0, 6.0, 10.0), (std::vector<std::string>{"send"}));
}

TEST(CutShort, KeptAndAlreadySampledProbesAreNotCandidates) {
  // session_start alone over the allowance: nothing may be cut. A sampled probe (ratio < 1) has
  // its window, which the tick set; only probes attached all the time are cut.
  ProbeBudget budget({0.02});
  EXPECT_TRUE(budget.cut_short({{"session_start", 100000, false}}, 5000, 0, 1.0, 1.0, 10.0).empty());
  EXPECT_TRUE(budget.cut_short({{"send", 100000, true, 0.4}}, 5000, 0, 1.0, 1.0, 10.0).empty());
}

TEST(CutShort, NoBudgetNoCut) {
  EXPECT_TRUE(ProbeBudget({0.0}).cut_short({{"send", 10000000}}, 5000, 0, 1.0, 1.0, 10.0).empty());
  EXPECT_TRUE(ProbeBudget({0.02}).cut_short({{"send", 10000000}}, 5000, 0, 1.0, 0.0, 10.0).empty());
}

// ---- what may be sampled -------------------------------------------------------------------------

TEST(ProbeBudget, PerSessionAndPerStreamProbesAreNeverSampled) {
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"session_start", 100000, budget_may_demote(DWCP_EV_SESSION_START)},
                            {"stream_open", 100000, budget_may_demote(DWCP_EV_STREAM_OPEN)},
                            {"session_close", 100000, budget_may_demote(DWCP_EV_SESSION_CLOSE)},
                            {"send", 1000, budget_may_demote(DWCP_EV_SEND)},
                            {"receive", 900, budget_may_demote(DWCP_EV_RECEIVE)}},
                           5000, 0, 1.0, 1.0);
  EXPECT_EQ(d.ratios.count("session_start"), 0u);
  EXPECT_EQ(d.ratios.count("stream_open"), 0u);
  EXPECT_EQ(d.ratios.count("session_close"), 0u);
  EXPECT_EQ(d.ratios.count("send"), 1u);
  EXPECT_EQ(d.ratios.count("receive"), 1u);
  EXPECT_GT(d.share_after, 0.02);  // what may not go still costs: said, not hidden
}

TEST(ProbeBudget, AKeptProbeCostlierThanTheCandidatesDoesNotStopTheirSampling) {
  // session_close is the costliest here, yet it stays; the candidates behind it are still judged.
  ProbeBudget budget({0.02});
  auto d = budget.evaluate({{"session_close", 20000, false}, {"send", 10000, true}, {"encode", 1000, true}}, 5000, 0,
                           1.0, 1.0);
  ASSERT_EQ(d.costs.front().probe, "session_close");
  EXPECT_EQ(d.ratios.count("send"), 1u);
  EXPECT_EQ(d.ratios.count("encode"), 1u);
}

TEST(BudgetMayDemote, OnlyPerOperationKinds) {
  for (auto kind : {DWCP_EV_SEND, DWCP_EV_SEND_CHUNK, DWCP_EV_RECEIVE, DWCP_EV_RECEIVE_CHUNK, DWCP_EV_ENCODE,
                    DWCP_EV_DECODE, DWCP_EV_COMPRESS_MEMORY, DWCP_EV_COMPRESS_DISK, DWCP_EV_DECOMPRESS})
    EXPECT_TRUE(budget_may_demote(kind)) << kind;
  for (auto kind : {DWCP_EV_NONE, DWCP_EV_SESSION_START, DWCP_EV_STREAM_OPEN, DWCP_EV_SESSION_CLOSE, DWCP_EV_RECONNECT,
                    DWCP_EV_PRUNE, DWCP_EV_MIGRATE_MEMORY, DWCP_EV_MIGRATE_DISK, DWCP_EV_FED_SYNC, DWCP_EV_FED_BASELINE,
                    DWCP_EV_STREAM_FINAL})
    EXPECT_FALSE(budget_may_demote(kind)) << kind;
}
