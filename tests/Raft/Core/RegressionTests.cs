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
}
