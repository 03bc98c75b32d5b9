using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft.Core;

namespace Shoal.Raft.Tests.Core;

/// <summary>
/// Bugs the simulation found in the core, each reduced to the smallest scenario that shows it (the summary names the
/// seed that found it).
/// </summary>
public sealed class RegressionTests
{
    private const int ElectionTick = 10;

    /// <summary>
    /// Seed 0: the founding members of a group are only in their bootstrap metadata (a snapshot at index 0), never in
    /// the log. A member that joined later and replicated the log from index 1 learned only the members added since,
    /// so it counted itself a quorum and was elected alone: two leaders in one term.
    /// </summary>
    [Fact]
    public void AMemberThatJoinsAfterBootstrap_LearnsTheFoundingMembers_AndCannotLeadAlone()
    {
        var founder = new RaftCore(new RaftCoreOptions { Id = 1, Random = new Random(1) }, snapshot: Members(1));
        var joiner = new RaftCore(new RaftCoreOptions { Id = 2, Random = new Random(2) });
        var net = new Network([(founder, []), (joiner, [])]);
        net.Elect(1);
        net.Propose(1, "a");

        net[1].ProposeConfChange(new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeAddVoter, Member = new RaftMember { RaftId = 2 } });
        net.Stabilize();
        net.TickAll(1); // the leader contacts the new member with its next heartbeat

        Assert.Equal(new HashSet<ulong> { 1, 2 }, net[1].Voters.ToHashSet());
        Assert.Equal(new HashSet<ulong> { 1, 2 }, net[2].Voters.ToHashSet());
        net.Isolate(1);
        net.Tick(2, 3 * ElectionTick);
        net.Stabilize();
        Assert.NotEqual(RaftRole.Leader, net[2].Role);
    }

    /// <summary>
    /// Seed 2794, after the fix above: the first leader wrote the founding members into the log, but one entry per
    /// append; it was cut off after replicating only the first, and the next leader (whose log was no longer empty)
    /// never wrote the others. A later joiner again learned too few members and led alone.
    /// </summary>
    [Fact]
    public void TheFoundingMembers_SurviveTheFirstLeaderFailingMidway()
    {
        static RaftCore Core(ulong id, bool founder) =>
            new(new RaftCoreOptions { Id = id, Random = new Random((int)id), MaxSizePerMessage = 1 }, snapshot: founder ? Members(1, 2, 3) : null);
        var net = new Network([(Core(1, true), []), (Core(2, true), []), (Core(3, true), []), (Core(4, false), [])]);
        var appends = 0;
        using (net.DropWhere(m => m.From == 1 && m.Type == RaftMessageType.RaftMsgApp && m.Entries.Count > 0 && ++appends > 2))
        {
            net.Elect(1);
        }

        net.Isolate(1);
        net.Tick(2, ElectionTick);
        net.Tick(3, ElectionTick);
        net.Elect(2);
        Assert.Equal(RaftRole.Leader, net[2].Role);
        Change(net, 2, RaftConfChangeType.RaftConfChangeAddVoter, 4);

        Assert.Equal(new HashSet<ulong> { 1, 2, 3, 4 }, net[4].Voters.ToHashSet());
    }

    /// <summary>
    /// Seed 4: with every append in a follower's inflight window lost, a heartbeat response freed only the appends up
    /// to what the follower had acknowledged — none of them — so the window stayed full and the leader never sent
    /// that follower anything again.
    /// </summary>
    [Fact]
    public void AFollowerWhoseAppendsWereAllLost_IsCaughtUpAfterTheNextHeartbeat()
    {
        var net = new Network(3, configure: (_, o) => o with { MaxInflightMessages = 1 });
        net.Elect(1);
        net.Propose(1, "a");
        using (net.DropWhere(m => m.To == 3 && m.Type == RaftMessageType.RaftMsgApp))
        {
            net.Propose(1, "b");
        }

        net.TickAll(3);

        Assert.Equal(["a", "b"], net.Members[3].AppliedData);
    }

    /// <summary>
    /// Seed 72 (pre-vote and check-quorum off): a member away while the group replaced the other members keeps the
    /// old membership and campaigns, raising its term, only towards members that are gone. It ignored the new
    /// leader's appends and heartbeats (of a lower term) without answering, so nobody learned its term and it never
    /// rejoined. §5.1: a stale request is refused with the current term, so that the sender updates itself.
    /// </summary>
    [Fact]
    public void AMemberThatMissedItsWholeGroupBeingReplaced_RejoinsWithoutPreVoteOrCheckQuorum()
    {
        static RaftCore Core(ulong id, bool founder) =>
            new(new RaftCoreOptions { Id = id, Random = new Random((int)id), PreVote = false, CheckQuorum = false }, snapshot: founder ? Members(1, 2, 3) : null);
        var net = new Network([(Core(1, true), []), (Core(2, true), []), (Core(3, true), []), (Core(4, false), []), (Core(5, false), [])]);
        net.Elect(1);
        net.Isolate(3);
        Change(net, 1, RaftConfChangeType.RaftConfChangeAddVoter, 4);
        Change(net, 1, RaftConfChangeType.RaftConfChangeAddVoter, 5);
        Change(net, 1, RaftConfChangeType.RaftConfChangeRemoveVoter, 1);
        net.Elect(4);
        Change(net, 4, RaftConfChangeType.RaftConfChangeRemoveVoter, 2);
        Assert.Equal(new HashSet<ulong> { 3, 4, 5 }, net[4].Voters.ToHashSet());

        // 1 and 2 are shut down; 3 comes back after campaigning on its own for a while.
        net.Tick(3, 10 * ElectionTick);
        net.Heal();
        net.Isolate(1);
        net.Isolate(2);
        net.Propose(net.Leader!.Value, "after");
        net.TickAll(5 * ElectionTick);

        Assert.Equal(new HashSet<ulong> { 3, 4, 5 }, net[3].Voters.ToHashSet());
        Assert.Contains("after", net.Members[3].AppliedData);
    }

    private static void Change(Network net, ulong leader, RaftConfChangeType type, ulong id)
    {
        net[leader].ProposeConfChange(new RaftConfChange { Type = type, Member = new RaftMember { RaftId = id } });
        net.Stabilize();
        net.TickAll(1);
    }

    private static RaftSnapshotMetadata Members(params ulong[] ids)
    {
        var metadata = new RaftSnapshotMetadata();
        metadata.Members.AddRange(ids.Select(id => new RaftMember { RaftId = id, NodeId = $"node{id}" }));
        return metadata;
    }
}
