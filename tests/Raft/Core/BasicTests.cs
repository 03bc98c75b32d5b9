using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft.Core;

namespace Shoal.Raft.Tests.Core;

public sealed class BasicTests
{
    [Fact]
    public void ThreeMembers_ElectALeader_AndReplicateAProposal()
    {
        var net = new Network(3);

        net.Elect(1);
        Assert.Equal(RaftRole.Leader, net[1].Role);
        var (index, term) = net.Propose(1, "a");

        foreach (var member in net.Members.Values)
        {
            Assert.Equal(1, member.Core.Lead == 1 ? 1 : 0);
            Assert.Equal(["a"], member.AppliedData);
            Assert.Equal(index, member.Core.Committed);
            Assert.Equal(term, member.Core.Term);
        }
    }

    [Fact]
    public void ASingleMember_ElectsItself_AndCommitsAlone()
    {
        var net = new Network(1);

        net.Elect(1);
        net.Propose(1, "x");

        Assert.Equal(["x"], net.Members[1].AppliedData);
    }

    [Fact]
    public void ElectionsHappenByTicks_WhenNobodyCampaigns()
    {
        var net = new Network(3);

        net.TickAll(40);

        Assert.NotNull(net.Leader);
        Assert.Single(net.Members.Values, m => m.Core.Role == RaftRole.Leader);
    }

    [Fact]
    public void AFollower_RefusesProposals_NamingTheLeader()
    {
        var net = new Network(3);
        net.Elect(2);

        var e = Assert.Throws<NotLeaderException>(() => net[1].Propose(ByteString.CopyFromUtf8("x")));

        Assert.Equal(2ul, e.LeaderId);
    }

    [Fact]
    public void ReadIndex_OnAFollower_IsConfirmedThroughTheLeader()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Propose(1, "a");

        net[3].ReadIndex(ByteString.CopyFromUtf8("r1"));
        net.Stabilize();

        var read = Assert.Single(net.Members[3].Reads);
        Assert.Equal(net[1].Committed, read.Index);
    }

    [Fact]
    public void LeadershipTransfer_HandsOverToTheChosenMember()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Propose(1, "a");

        net[1].TransferLeadership(3);
        net.Stabilize();

        Assert.Equal(RaftRole.Leader, net[3].Role);
        Assert.Equal(RaftRole.Follower, net[1].Role);
    }

    [Fact]
    public void RemovingAMember_ShrinksTheGroup_AndTheRestGoOn()
    {
        var net = new Network(3);
        net.Elect(1);
        net.Propose(1, "a");
        var change = new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeRemoveVoter, Member = new RaftMember { RaftId = 3 } };

        net[1].ProposeConfChange(change);
        net.Stabilize();
        net.Propose(1, "b");

        Assert.Equal(new HashSet<ulong> { 1, 2 }, net[1].Voters.ToHashSet());
        Assert.Equal(["a", "b"], net.Members[2].AppliedData);
    }
}
