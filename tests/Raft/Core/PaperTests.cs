using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft.Core;

namespace Shoal.Raft.Tests.Core;

/// <summary>
/// The rules of the Raft paper ("In Search of an Understandable Consensus Algorithm", extended version) and of
/// Ongaro's dissertation ("Consensus: Bridging Theory and Practice") for the parts the paper leaves out (pre-vote,
/// check-quorum, ReadIndex, leadership transfer), each as a test of the pure core on the in-memory
/// <see cref="Network"/>. Each test's summary quotes the rule it checks.
/// </summary>
public sealed class PaperTests
{
    private const int ElectionTick = 10;

    // ------------------------------------------------------------------------------------------------------------
    // The five guarantees of Figure 3

    /// <summary>
    /// "Election Safety: at most one leader can be elected in a given term. §5.2" — checked after every message and
    /// tick of 200 random runs of five members (lossy links, isolations, proposals).
    /// </summary>
    [Fact]
    public void ElectionSafety_AtMostOneLeaderPerTerm_AcrossManyRandomRuns()
    {
        var terms = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var run = RandomRun(seed);

            foreach (var (term, leaders) in run.LeadersByTerm)
            {
                Assert.True(leaders.Count == 1, $"seed {seed}: term {term} had leaders {string.Join(", ", leaders)}");
            }

            Assert.True(run.LeadersByTerm.Count > 0, $"seed {seed}: nobody was elected");
            terms += run.LeadersByTerm.Count;
        }

        // The runs must change leaders for the check to mean something.
        Assert.True(terms > 300, $"only {terms} terms with a leader in 200 runs");
    }

    /// <summary>
    /// "Leader Append-Only: a leader never overwrites or deletes entries in its log; it only appends new entries.
    /// §5.3" — a leader that receives a stale leader's conflicting append, rejections and a stale snapshot keeps
    /// every entry it had and only appends after them.
    /// </summary>
    [Fact]
    public void LeaderAppendOnly_ALeaderNeverOverwritesOrDeletesItsEntries()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Propose(1, "a");
        net.Propose(1, "b");
        var leader = net[1];
        var before = LogOf(net, 1);
        var stale = new RaftEntry { Term = leader.Term - 1, Index = 2, Data = ByteString.CopyFromUtf8("stale") };

        // A deposed leader's append that conflicts with our entry 2, a rejection that walks our progress back,
        // and a snapshot from a lower term.
        leader.Step(new RaftMessage { Type = RaftMessageType.RaftMsgApp, From = 2, To = 1, Term = leader.Term - 1, Index = 1, LogTerm = 1, Entries = { stale } });
        leader.Step(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, From = 2, To = 1, Term = leader.Term, Index = 2, Reject = true, RejectHint = 1, LogTerm = 1 });
        leader.Step(new RaftMessage
        {
            Type = RaftMessageType.RaftMsgSnap,
            From = 3,
            To = 1,
            Term = leader.Term - 1,
            Snapshot = new RaftSnapshot { Metadata = new RaftSnapshotMetadata { Index = 9, Term = leader.Term - 1 } },
        });
        net.Stabilize();
        net.Propose(1, "c");

        var after = LogOf(net, 1);
        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Equal(before.Count + 1, after.Count);
        Assert.Equal(before, after.Take(before.Count));
        Assert.Equal("c", after[^1].Data.ToStringUtf8());
    }

    /// <summary>
    /// "Log Matching: if two logs contain an entry with the same index and term, then the logs are identical in all
    /// entries up through the given index. §5.3" — the consistency check ("if the follower does not find an entry
    /// in its log with the same index and term, then it refuses the new entries"), then the property itself over
    /// every pair of members after 100 random runs.
    /// </summary>
    [Fact]
    public void LogMatching_LogsThatShareAnEntryAreIdenticalUpToIt()
    {
        var single = new Network([Restarted(2, size: 3, term: 2, logTerms: [1, 1])]);
        var follower = single[2];
        var next = Entry(3, 2);

        follower.Step(new RaftMessage { Type = RaftMessageType.RaftMsgApp, From = 1, To = 2, Term = 2, Index = 2, LogTerm = 2, Entries = { next } });

        var refusal = Assert.Single(TakeMessages(single, 2));
        Assert.True(refusal.Reject);
        Assert.Equal(2ul, follower.LastIndex);

        follower.Step(new RaftMessage { Type = RaftMessageType.RaftMsgApp, From = 1, To = 2, Term = 2, Index = 2, LogTerm = 1, Entries = { next } });

        Assert.False(Assert.Single(TakeMessages(single, 2)).Reject);
        Assert.Equal(3ul, follower.LastIndex);
        for (var seed = 0; seed < 100; seed++)
        {
            var run = RandomRun(seed);
            AssertLogMatching(run.Net, $"seed {seed}");
        }
    }

    /// <summary>
    /// "Leader Completeness: if a log entry is committed in a given term, then that entry will be present in the logs
    /// of the leaders for all higher-numbered terms. §5.4" — members that missed a committed entry cannot be elected;
    /// and in 200 random runs every new leader holds every entry applied anywhere before its election.
    /// </summary>
    [Fact]
    public void LeaderCompleteness_EveryLaterLeaderHoldsEveryCommittedEntry()
    {
        var net = new Network(5);
        net.Elect(1);
        net.Isolate(4);
        net.Isolate(5);
        var (index, term) = net.Propose(1, "x");
        Assert.Equal(index, net[1].Committed);

        // The leader goes away; the two members that missed "x" try first, then one that has it.
        net.Heal();
        net.Isolate(1);
        PassLease(net, 2, 3, 4, 5);
        net.Elect(4);
        net.Elect(5);
        Assert.NotEqual(RaftRole.Leader, net[4].Role);
        Assert.NotEqual(RaftRole.Leader, net[5].Role);
        net.Elect(2);

        Assert.Equal(RaftRole.Leader, net[2].Role);
        Assert.Equal(term, net[2].TermAt(index));
        for (var seed = 0; seed < 200; seed++)
        {
            var run = RandomRun(seed);
            Assert.True(run.CompletenessViolations.Count == 0, $"seed {seed}: {string.Join("; ", run.CompletenessViolations)}");
        }
    }

    /// <summary>
    /// "State Machine Safety: if a server has applied a log entry at a given index to its state machine, no other
    /// server will ever apply a different log entry for the same index. §5.4.3" — the applied sequences of all
    /// members are prefixes of one another after 200 random runs.
    /// </summary>
    [Fact]
    public void StateMachineSafety_NoTwoMembersApplyDifferentEntriesAtAnIndex()
    {
        var applied = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var run = RandomRun(seed);
            AssertAppliedPrefixes(run.Net, $"seed {seed}");
            applied += run.Net.Members.Values.Max(m => m.Applied.Count);
        }

        Assert.True(applied > 2000, $"only {applied} entries applied in 200 runs");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Elections

    /// <summary>
    /// "If a follower receives no communication over a period of time called the election timeout, then it assumes
    /// there is no viable leader and begins an election to choose a new leader. §5.2" and "Raft uses randomized
    /// election timeouts to ensure that split votes are rare" — the timeout is drawn from [ET, 2·ET).
    /// </summary>
    [Fact]
    public void AFollowerThatHearsNothing_CampaignsAfterARandomizedElectionTimeout()
    {
        var timeouts = new HashSet<int>();
        for (var seed = 0; seed < 100; seed++)
        {
            var core = new RaftCore(Options(1, seed) with { PreVote = false }, snapshot: Group(3));
            var ticks = 0;
            while (core.Role == RaftRole.Follower && ticks < 100)
            {
                core.Tick();
                ticks++;
            }

            Assert.Equal(RaftRole.Candidate, core.Role);
            Assert.Equal(1ul, core.Term);
            Assert.Equal(1ul, core.Vote);
            var requests = core.GetReady().Messages;
            Assert.Equal([2ul, 3ul], requests.Select(m => m.To).Order());
            Assert.All(requests, m => Assert.Equal(RaftMessageType.RaftMsgVote, m.Type));
            Assert.InRange(ticks, ElectionTick, (2 * ElectionTick) - 1);
            timeouts.Add(ticks);
        }

        Assert.True(timeouts.Count >= 5, $"election timeouts are not randomized: {string.Join(", ", timeouts)}");
    }

    /// <summary>
    /// "The RequestVote RPC implements this restriction: the RPC includes information about the candidate's log,
    /// and the voter denies its vote if its own log is more up-to-date than that of the candidate. [...] If the logs
    /// have last entries with different terms, then the log with the later term is more up-to-date. If the logs end
    /// with the same term, then whichever log is longer is more up-to-date. §5.4.1"
    /// </summary>
    [Theory]
    [InlineData(new ulong[] { 1, 1 }, true)]         // same last term, shorter: loses
    [InlineData(new ulong[] { 1 }, true)]            // older last term, shorter: loses
    [InlineData(new ulong[] { 1, 1, 1, 1 }, true)]   // longer but with an older last term: loses
    [InlineData(new ulong[] { 1, 2, 2 }, false)]     // same last entry: wins
    [InlineData(new ulong[] { 1, 2, 2, 2 }, false)]  // same last term, longer: wins
    [InlineData(new ulong[] { 1, 3 }, false)]        // later last term, shorter: wins
    public void ACandidateWithAStaleLog_LosesTheElection(ulong[] candidateLog, bool loses)
    {
        // Members 1 and 2 hold [1, 2, 2] (terms by index); member 3 campaigns with candidateLog.
        var net = new Network(
        [
            Restarted(1, size: 3, term: 3, logTerms: [1, 2, 2], preVote: false),
            Restarted(2, size: 3, term: 3, logTerms: [1, 2, 2], preVote: false),
            Restarted(3, size: 3, term: 3, logTerms: candidateLog, preVote: false),
        ]);

        net.Elect(3);

        Assert.Equal(loses, net[3].Role != RaftRole.Leader);
        Assert.Equal(loses, net[1].Vote != 3 && net[2].Vote != 3);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Replication

    /// <summary>
    /// "Raft never commits log entries from previous terms by counting replicas. Only log entries from the leader's
    /// current term are committed by counting replicas; once an entry from the current term has been committed in
    /// this way, then all prior entries are committed indirectly because of the Log Matching Property. §5.4.2" —
    /// Figure 8: an entry of term 2 stored on four of five members is still not committed by the leader of term 4,
    /// and indeed the leader of term 5 replaces it.
    /// </summary>
    [Fact]
    public void ALeaderCommitsOnlyEntriesOfItsOwnTermByCountingReplicas_Figure8()
    {
        var net = Figure8();

        // (c) S1, leader of term 4, brings S3 and S4 to its entry of term 2, but its own entry of term 4 is lost.
        net.Isolate(5);
        net.DropWhere(m => m.From == 1 && m.Type == RaftMessageType.RaftMsgApp && m.Entries.Any(e => e.Term == 4) && net[m.To].TermAt(m.Index) == m.LogTerm);
        net.Elect(1);
        Assert.Equal(RaftRole.Leader, net[1].Role);
        Assert.Equal(4ul, net[1].Term);
        Assert.All(new ulong[] { 1, 2, 3, 4 }, id => Assert.Equal(2ul, net[id].TermAt(2)));
        Assert.Equal(1ul, net[1].Committed);

        // (d) S1 crashes; S5, whose log ends in term 3, is elected and overwrites index 2 everywhere.
        net.Heal();
        net.Isolate(1);
        net.Elect(5);
        net.Elect(5);
        Assert.Equal(RaftRole.Leader, net[5].Role);
        net.Heal();
        net.TickAll(2);

        Assert.All(net.Members.Values, m => Assert.Equal(3ul, m.Core.TermAt(2)));
        Assert.All(net.Members.Values, m => Assert.DoesNotContain(m.Applied, e => e.Index == 2 && e.Term == 2));
        Assert.All(net.Members.Values, m => Assert.Contains(m.Applied, e => e.Index == 2 && e.Term == 3));
    }

    /// <summary>
    /// §5.4.2, Figure 8 (e): "if S1 replicates an entry from its current term on a majority of the servers before
    /// crashing [...] then this entry is committed (S5 cannot win an election)" — and so is the entry of term 2
    /// before it.
    /// </summary>
    [Fact]
    public void AnEntryOfTheLeadersTermOnAMajority_CommitsTheEntriesBeforeIt_Figure8e()
    {
        var net = Figure8();
        net.Isolate(5);
        net.Elect(1);
        Assert.Equal(3ul, net[1].Committed);

        net.Heal();
        net.Isolate(1);
        net.Elect(5);
        net.Elect(5);

        Assert.NotEqual(RaftRole.Leader, net[5].Role);
        Assert.All(new ulong[] { 2, 3, 4 }, id => Assert.Contains(net.Members[id].Applied, e => e.Index == 2 && e.Term == 2));
    }

    /// <summary>
    /// "In Raft, the leader handles inconsistencies by forcing the followers' logs to duplicate its own. This means
    /// that conflicting entries in follower logs will be overwritten with entries from the leader's log. §5.3"
    /// </summary>
    [Fact]
    public void ANewLeader_OverwritesAFollowersConflictingUncommittedSuffix()
    {
        var net = new Network(
        [
            Restarted(1, size: 3, term: 3, logTerms: [1, 2, 3], commit: 1),
            Restarted(2, size: 3, term: 2, logTerms: [1, 2, 2, 2, 2], commit: 1),
            Restarted(3, size: 3, term: 3, logTerms: [1, 2], commit: 1),
        ]);

        net.Elect(1);

        Assert.Equal(RaftRole.Leader, net[1].Role);
        var leaderLog = LogOf(net, 1);
        Assert.Equal([1ul, 2, 3, 4], leaderLog.Select(e => e.Term));
        Assert.Equal(leaderLog, LogOf(net, 2));
        Assert.Equal(leaderLog, LogOf(net, 3));
        Assert.DoesNotContain(net.Members[2].Applied, e => e.Index >= 3 && e.Term == 2);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Pre-vote, check-quorum, leader stickiness

    /// <summary>
    /// Dissertation §9.6: "In the Pre-Vote algorithm, a candidate only increments its term if it first learns from a
    /// majority of the cluster that they would be willing to grant the candidate their votes" — so a member cut off
    /// for many election timeouts rejoins without raising the term or deposing the leader.
    /// </summary>
    [Fact]
    public void PreVote_APartitionedMemberThatRejoins_DoesNotRaiseTheTermOrDeposeTheLeader()
    {
        var net = new Network(3);
        net.Elect(1);
        var term = net[1].Term;
        net.Isolate(3);
        net.Propose(1, "while away");

        net.TickAll(10 * ElectionTick);
        Assert.Equal(term, net[3].Term);
        net.Heal();
        net.TickAll(3 * ElectionTick);

        Assert.Equal(RaftRole.Leader, net[1].Role);
        Assert.All(net.Members.Values, m => Assert.Equal(term, m.Core.Term));
        Assert.Equal(["while away"], net.Members[3].AppliedData);
    }

    /// <summary>
    /// The same partition without pre-vote raises the isolated member's term, and its return deposes the leader:
    /// what the test above shows pre-vote prevents.
    /// </summary>
    [Fact]
    public void WithoutPreVote_APartitionedMemberThatRejoins_RaisesTheTermAndDeposesTheLeader()
    {
        var net = new Network(3, configure: (_, o) => o with { PreVote = false });
        net.Elect(1);
        var term = net[1].Term;
        net.Isolate(3);

        net.TickAll(10 * ElectionTick);
        Assert.True(net[3].Term > term);
        net.Heal();
        net.TickAll(1);

        Assert.True(net[1].Term > term);
    }

    /// <summary>
    /// Dissertation §6.2: "a leader in Raft steps down if an election timeout elapses without a successful round of
    /// heartbeats to a majority of its cluster; this allows clients to retry their requests with another server." —
    /// the quorum check runs once per election timeout and looks at who answered since the previous check, so a
    /// leader cut off right after a check steps down at the next one (one election timeout), and one cut off later,
    /// after some members answered, at the check after that (less than two election timeouts).
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(9)]
    public void CheckQuorum_ALeaderCutFromAQuorum_StepsDown(int ticksAfterACheck)
    {
        var net = new Network(3);
        net.Elect(1);
        net.TickAll(ElectionTick - 1);
        net.Tick(1); // the first quorum check, which passes; its heartbeats are not yet answered
        if (ticksAfterACheck > 0)
        {
            net.TickAll(ticksAfterACheck); // answered: the members are active again
        }

        net.Isolate(1);

        var ticks = 0;
        while (net[1].Role == RaftRole.Leader && ticks < 10 * ElectionTick)
        {
            net.Tick(1);
            ticks++;
        }

        Assert.Equal(RaftRole.Follower, net[1].Role);
        Assert.Equal(ElectionTick - ticksAfterACheck + (ticksAfterACheck == 0 ? 0 : ElectionTick), ticks);
        Assert.True(ticks <= 2 * ElectionTick);
        Assert.Throws<NotLeaderException>(() => net[1].Propose(ByteString.CopyFromUtf8("x")));
    }

    /// <summary>
    /// Dissertation §4.2.3: "if a server receives a RequestVote request within the minimum election timeout of
    /// hearing from a current leader, it does not update its term or grant its vote." — a campaign started by a
    /// leadership transfer overrides the lease, and once the lease has passed an ordinary one is answered too.
    /// </summary>
    [Fact]
    public void LeaderStickiness_VoteRequestsAreIgnoredWithinTheLease()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Propose(1, "a");
        var follower = net[3];
        var term = follower.Term;

        follower.Step(VoteRequest(follower, from: 2, transfer: false));
        Assert.Equal(term, follower.Term);
        Assert.Equal(1ul, follower.Lead);
        Assert.DoesNotContain(TakeMessages(net, 3), m => m.Type == RaftMessageType.RaftMsgVoteResp);

        follower.Step(VoteRequest(follower, from: 2, transfer: true));
        Assert.Equal(term + 1, follower.Term);
        Assert.Equal(2ul, follower.Vote);
        Assert.False(Assert.Single(TakeMessages(net, 3), m => m.Type == RaftMessageType.RaftMsgVoteResp).Reject);

        // Once an election timeout passes without the leader, an ordinary request is granted too.
        var other = new Network(3);
        other.Elect(1);
        other.Tick(3, ElectionTick);
        other[3].Step(VoteRequest(other[3], from: 2, transfer: false));
        Assert.Equal(2ul, other[3].Vote);
        Assert.False(Assert.Single(TakeMessages(other, 3), m => m.Type == RaftMessageType.RaftMsgVoteResp).Reject);
    }

    /// <summary>A request for a vote in the next term from a candidate whose log is the same as the voter's.</summary>
    private static RaftMessage VoteRequest(RaftCore voter, ulong from, bool transfer) => new()
    {
        Type = RaftMessageType.RaftMsgVote,
        From = from,
        To = voter.Id,
        Term = voter.Term + 1,
        Index = voter.LastIndex,
        LogTerm = voter.TermAt(voter.LastIndex)!.Value,
        Context = transfer ? ByteString.CopyFromUtf8("transfer") : ByteString.Empty,
    };

    // ------------------------------------------------------------------------------------------------------------
    // Reads

    /// <summary>
    /// Dissertation §6.4, ReadIndex: "The leader needs to make sure it hasn't been superseded by a newer leader of
    /// which it is unaware. It issues a new round of heartbeats and waits for their acknowledgments from a majority
    /// of the cluster." — a leader cut off (alone, or with a minority) while others elect a new leader and commit a
    /// write never answers a read, before or after it learns it was deposed.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadIndex_OnAPartitionedOrDeposedLeader_DoesNotReturnAStaleRead(bool withAMinority)
    {
        var net = new Network(5);
        net.Elect(1);
        net.Propose(1, "a");
        if (withAMinority)
        {
            // 1 and 2 still talk; 3, 4, 5 do not hear from them.
            foreach (var (a, b) in new (ulong, ulong)[] { (1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5) })
            {
                net.Cut(a, b);
            }
        }
        else
        {
            net.Isolate(1);
        }

        PassLease(net, 3, 4, 5);
        net.Elect(3);
        Assert.Equal(RaftRole.Leader, net[3].Role);
        var (written, _) = net.Propose(3, "b");
        Assert.Equal(RaftRole.Leader, net[1].Role); // it does not know yet

        net[1].ReadIndex(ByteString.CopyFromUtf8("stale?"));
        net.Stabilize();
        net.TickAll(2);
        Assert.Empty(net.Members[1].Reads);

        net.Heal();
        net.TickAll(3);
        Assert.NotEqual(RaftRole.Leader, net[1].Role);
        Assert.Empty(net.Members[1].Reads);

        net[3].ReadIndex(ByteString.CopyFromUtf8("fresh"));
        net.Stabilize();
        var read = Assert.Single(net.Members[3].Reads);
        Assert.True(read.Index >= written, $"the read index {read.Index} is before the write at {written}");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Membership, leadership transfer, snapshots

    /// <summary>
    /// Dissertation §4.1 restricts changes to "only one server can be added or removed from the cluster at a time";
    /// our rule is that a leader accepts a membership change only when every earlier one in its log is applied —
    /// including one a new leader finds uncommitted in its log.
    /// </summary>
    [Fact]
    public void OnlyOneMembershipChange_MayBePendingAtATime()
    {
        var net = new Network(3);
        net.Elect(1);

        net[1].ProposeConfChange(Remove(3));
        Assert.Throws<InvalidOperationException>(() => net[1].ProposeConfChange(Add(4)));
        net.Stabilize();
        net[1].ProposeConfChange(Add(4));
        net.Stabilize();
        Assert.Equal(new HashSet<ulong> { 1, 2, 4 }, net[1].Voters.ToHashSet());

        // A change that reached only member 2 before its leader was cut off: 2 wins the next election and must
        // first apply it.
        var five = new Network(5);
        five.Elect(1);
        five.DropWhere(m => m.From == 1 && m.To != 2);
        five[1].ProposeConfChange(Remove(5));
        five.Stabilize();
        five.Heal();
        five.Isolate(1);
        PassLease(five, 2, 3, 4, 5);
        using (five.DropWhere(m => m.From == 2 && m.Type == RaftMessageType.RaftMsgApp))
        {
            five.Elect(2);
            Assert.Equal(RaftRole.Leader, five[2].Role);
            Assert.Throws<InvalidOperationException>(() => five[2].ProposeConfChange(Remove(4)));
        }

        five.TickAll(1);
        Assert.DoesNotContain(5ul, five[2].Voters);
        five[2].ProposeConfChange(Remove(4));
    }

    /// <summary>
    /// Dissertation §3.10: "The prior leader stops accepting new client requests. [...] The prior leader sends a
    /// TimeoutNow request to the target server. This request has the same effect as the target server's election
    /// timer firing" — to a member that is up to date.
    /// </summary>
    [Fact]
    public void LeadershipTransfer_ToAnUpToDateMember()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Propose(1, "a");
        var term = net[1].Term;

        net[1].TransferLeadership(2);
        Assert.Throws<InvalidOperationException>(() => net[1].Propose(ByteString.CopyFromUtf8("during")));
        net.Stabilize();

        Assert.Equal(RaftRole.Leader, net[2].Role);
        Assert.Equal(term + 1, net[2].Term);
        Assert.All(net.Members.Values, m => Assert.Equal(2ul, m.Core.Lead));
        net.Propose(2, "b");
        Assert.Equal(["a", "b"], net.Members[1].AppliedData);
    }

    /// <summary>
    /// Dissertation §3.10: "The prior leader fully updates the target server's log to match its own, using the
    /// normal log replication mechanism." — a lagging target is caught up before it is told to campaign, so it wins.
    /// </summary>
    [Fact]
    public void LeadershipTransfer_ToALaggingMember_CatchesItUpFirst()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Isolate(3);
        net.Propose(1, "a");
        net.Propose(1, "b");
        var last = net[1].LastIndex;
        Assert.True(net[3].LastIndex < last);

        net.Heal();
        net[1].TransferLeadership(3);
        net.Stabilize();

        Assert.Equal(RaftRole.Leader, net[3].Role);
        Assert.Equal(net[1].TermAt(last), net[3].TermAt(last));
        Assert.Equal(["a", "b"], net.Members[3].AppliedData);
    }

    /// <summary>
    /// "Although servers normally take snapshots independently, the leader must occasionally send snapshots to
    /// followers that lag behind. This happens when the leader has already discarded the next log entry that it
    /// needs to send to a follower. §7"
    /// </summary>
    [Fact]
    public void SnapshotInstall_ToAFollowerBehindTheCompactionPoint()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Isolate(3);
        for (var i = 0; i < 10; i++)
        {
            net.Propose(1, $"e{i}");
        }

        var leader = net[1];
        var applied = leader.Applied;
        var snapshot = new RaftSnapshot
        {
            Metadata = new RaftSnapshotMetadata { Index = applied, Term = leader.TermAt(applied)!.Value, Members = { Group(3).Members } },
            Data = ByteString.CopyFromUtf8("state at " + applied),
        };
        leader.SetSnapshot(snapshot, applied);
        Assert.Equal(applied + 1, leader.FirstIndex);

        net.Heal();
        net.TickAll(1);
        net.Propose(1, "after");

        var follower = net.Members[3];
        var installed = Assert.Single(follower.Snapshots);
        Assert.Equal(snapshot, installed);
        Assert.Equal(applied + 1, follower.Core.FirstIndex);
        Assert.Equal(leader.Committed, follower.Core.Committed);
        Assert.Equal(new HashSet<ulong> { 1, 2, 3 }, follower.Core.Voters.ToHashSet());
        Assert.Equal(["after"], follower.AppliedData);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers

    private static RaftCoreOptions Options(ulong id, int seed = 1) => new() { Id = id, Random = new Random((seed * 1000) + (int)id) };

    private static RaftSnapshotMetadata Group(int size)
    {
        var metadata = new RaftSnapshotMetadata();
        for (var i = 1; i <= size; i++)
        {
            metadata.Members.Add(new RaftMember { RaftId = (ulong)i, NodeId = $"node{i}" });
        }

        return metadata;
    }

    private static RaftEntry Entry(ulong index, ulong term) => new() { Index = index, Term = term, Data = ByteString.CopyFromUtf8($"{index}@{term}") };

    /// <summary>
    /// A member restarted from a log given as the term of each entry (entries are equal where index and term are),
    /// with that log.
    /// </summary>
    private static (RaftCore Core, IEnumerable<RaftEntry> Log) Restarted(ulong id, int size, ulong term, ulong[] logTerms, ulong commit = 0, bool preVote = true, bool checkQuorum = true, long maxSizePerMessage = 1024 * 1024)
    {
        var entries = logTerms.Select((t, i) => Entry((ulong)i + 1, t)).ToList();
        var options = Options(id) with { PreVote = preVote, CheckQuorum = checkQuorum, MaxSizePerMessage = maxSizePerMessage };
        return (new RaftCore(options, new RaftHardState { Term = term, Commit = commit }, Group(size), entries), entries);
    }

    /// <summary>Processes a member's Ready as the network would, but returns the messages instead of sending them.</summary>
    private static List<RaftMessage> TakeMessages(Network net, ulong id)
    {
        var member = net.Members[id];
        var sent = new List<RaftMessage>();
        while (member.Core.HasReady)
        {
            var ready = member.Core.GetReady();
            member.Persist(ready);
            sent.AddRange(ready.Messages);
            member.Apply(ready);
            member.Core.Advance(ready);
        }

        return sent;
    }

    private static RaftConfChange Remove(ulong id) => new() { Type = RaftConfChangeType.RaftConfChangeRemoveVoter, Member = new RaftMember { RaftId = id } };

    private static RaftConfChange Add(ulong id) => new() { Type = RaftConfChangeType.RaftConfChangeAddVoter, Member = new RaftMember { RaftId = id } };

    private static List<RaftEntry> LogOf(Network net, ulong id) => [.. net.Members[id].Persisted.Values];

    /// <summary>Lets an election timeout pass on <paramref name="ids"/> so that they no longer honour the old leader's lease.</summary>
    private static void PassLease(Network net, params ulong[] ids)
    {
        // A member whose randomized timeout is exactly one election timeout campaigns meanwhile: keep that
        // campaign from electing anyone, so that the test decides who is elected.
        using var noCampaigns = net.DropWhere(m => m.Type is RaftMessageType.RaftMsgVote or RaftMessageType.RaftMsgPreVote);
        foreach (var id in ids)
        {
            net.Tick(id, ElectionTick);
        }

        net.Stabilize();
    }

    /// <summary>
    /// Figure 8 (b), five members without pre-vote or check-quorum (the paper's algorithm), one entry per append:
    /// S1 led term 2 and stored index 2 on S2 only; S5 led term 3 and stored its own index 2 alone; S1 has since
    /// seen term 3 and is about to campaign.
    /// </summary>
    private static Network Figure8()
    {
        (RaftCore, IEnumerable<RaftEntry>) Member(ulong id, ulong term, ulong[] log) =>
            Restarted(id, size: 5, term, log, commit: 1, preVote: false, checkQuorum: false, maxSizePerMessage: 1);

        return new Network(
        [
            Member(1, 3, [1, 2]),
            Member(2, 2, [1, 2]),
            Member(3, 3, [1]),
            Member(4, 3, [1]),
            Member(5, 3, [1, 3]),
        ]);
    }

    internal sealed record RandomRunResult(Network Net, Dictionary<ulong, HashSet<ulong>> LeadersByTerm, List<string> CompletenessViolations);

    /// <summary>
    /// A random run of five members: lossy links, members isolated and healed, ticks skipped, proposals to whoever
    /// leads. Leaders are observed after every message and tick: who led each term, and whether each new leader
    /// holds every entry applied anywhere so far.
    /// </summary>
    private static RandomRunResult RandomRun(int seed, int ticks = 150)
    {
        var rng = new Random(seed);
        var (preVote, checkQuorum) = (rng.Next(2) == 0, rng.Next(2) == 0);
        var net = new Network(5, seed, (_, o) => o with { PreVote = preVote, CheckQuorum = checkQuorum });
        var leadersByTerm = new Dictionary<ulong, HashSet<ulong>>();
        var violations = new List<string>();
        var dropRate = rng.NextDouble() * 0.3;
        void Observe(RaftCore core)
        {
            if (core.Role != RaftRole.Leader)
            {
                return;
            }

            if (!leadersByTerm.TryGetValue(core.Term, out var leaders))
            {
                leadersByTerm[core.Term] = leaders = [];
            }

            if (!leaders.Add(core.Id))
            {
                return;
            }

            foreach (var member in net.Members.Values)
            {
                foreach (var entry in member.Applied.Where(e => core.TermAt(e.Index) != e.Term))
                {
                    violations.Add($"leader {core.Id} of term {core.Term} lacks {entry.Index}@{entry.Term} applied on {member.Core.Id}");
                }
            }
        }

        void Lossy() => _ = net.DropWhere(_ => rng.NextDouble() < dropRate);

        net.AfterStep = Observe;
        Lossy();
        for (var t = 0; t < ticks; t++)
        {
            switch (rng.Next(20))
            {
                case 0:
                    net.Isolate((ulong)rng.Next(1, 6));
                    break;
                case 1:
                    net.Heal();
                    Lossy();
                    break;
                default:
                    break;
            }

            foreach (var id in net.Members.Keys)
            {
                if (rng.Next(10) != 0)
                {
                    net.Tick(id);
                    Observe(net[id]);
                }
            }

            if (net.Members.Values.FirstOrDefault(m => m.Core.Role == RaftRole.Leader) is { } leader && rng.Next(2) == 0)
            {
                leader.Core.Propose(ByteString.CopyFromUtf8($"{seed}/{t}"));
            }

            net.Stabilize();
        }

        return new RandomRunResult(net, leadersByTerm, violations);
    }

    private static void AssertLogMatching(Network net, string context)
    {
        var logs = net.Members.Values.Select(m => (m.Core.Id, Log: m.Persisted)).ToList();
        foreach (var (a, logA) in logs)
        {
            foreach (var (b, logB) in logs.Where(l => l.Id > a))
            {
                var shared = logA.Keys.Where(i => logB.TryGetValue(i, out var e) && e.Term == logA[i].Term).DefaultIfEmpty(0ul).Max();
                for (var i = 1ul; i <= shared; i++)
                {
                    Assert.True(logA.ContainsKey(i) && logB.ContainsKey(i) && logA[i].Equals(logB[i]), $"{context}: members {a} and {b} share entry {shared} but differ at {i}");
                }
            }
        }
    }

    private static void AssertAppliedPrefixes(Network net, string context)
    {
        var members = net.Members.Values.ToList();
        foreach (var a in members)
        {
            foreach (var b in members.Where(m => m.Core.Id > a.Core.Id))
            {
                var shared = Math.Min(a.Applied.Count, b.Applied.Count);
                for (var i = 0; i < shared; i++)
                {
                    Assert.True(a.Applied[i].Equals(b.Applied[i]), $"{context}: members {a.Core.Id} and {b.Core.Id} applied different entries at position {i}: {a.Applied[i]} / {b.Applied[i]}");
                }
            }
        }
    }
}
