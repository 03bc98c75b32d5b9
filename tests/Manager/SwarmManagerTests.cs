using System.Net;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Client;
using Shoal.TestKit;

namespace Shoal.Manager.Tests;

/// <summary>
/// Managers as nodes build them: a swarm founded by one, others joining with the manager token through any manager
/// (a follower relays the join to the leader), demotion through the node spec — real ports, real mTLS, real Raft on disk.
/// </summary>
public sealed class SwarmManagerTests : IAsyncDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoal-mgr-").FullName;
    private readonly List<SwarmManager> _managers = [];

    [Fact]
    public async Task ManagersJoiningThroughAFollower_FormOneGroup_AndDemotingTheLeader_HandsLeadershipOver()
    {
        var first = await InitializeAsync();
        var second = await JoinAsync(first.AdvertiseAddress);
        var third = await JoinAsync(second.AdvertiseAddress); // through a follower: the CA and the Raft join are relayed

        await Eventually.TrueAsync(() => _managers.All(m => m.Raft.Members.Count == 3), "every manager sees three members");
        await Eventually.TrueAsync(
            () => first.Store.View().Nodes.All().Count(n => !string.IsNullOrEmpty(n.ManagerStatus?.Addr)) == 3,
            "the role manager records every member's address on its node");
        var nodes = first.Store.View().Nodes.All().ToList();
        Assert.Equal(3, nodes.Count);
        Assert.All(nodes, n => Assert.Equal(NodeRole.Manager, n.Role));
        Assert.Equal(
            first.Raft.Members.Select(m => (m.NodeId, m.Addr)).Order(),
            nodes.Select(n => (n.Id, n.ManagerStatus.Addr)).Order());

        // Demote the leader: it hands leadership over first, then the new leader removes it.
        var leaderNode = first.Security.NodeId;
        await first.Store.UpdateAsync(tx =>
        {
            var node = tx.Nodes.Get(leaderNode)!.Clone();
            node.Spec.DesiredRole = NodeRole.Worker;
            tx.Update(node);
        }, TestContext.Current.CancellationToken);

        await Eventually.TrueAsync(
            () => second.Store.View().Nodes.Get(leaderNode)?.Role == NodeRole.Worker,
            "the demoted leader's node is a worker", TimeSpan.FromSeconds(30));
        Assert.True(second.Raft.IsLeader || third.Raft.IsLeader);
        Assert.Equal(2, (second.Raft.IsLeader ? second : third).Raft.Members.Count);
        Assert.DoesNotContain(second.Raft.Members, m => m.NodeId == leaderNode);
    }

    [Fact]
    public async Task DemotingAManager_WhenTheOthersAreUnreachable_WaitsRatherThanLosingQuorum()
    {
        var first = await InitializeAsync();
        var second = await JoinAsync(first.AdvertiseAddress);
        var third = await JoinAsync(first.AdvertiseAddress);
        await Eventually.TrueAsync(() => first.Raft.Members.Count == 3, "three members");
        await Eventually.TrueAsync(() => first.Raft.IsLeader, "the founder leads");

        // The third is gone; demoting the second would leave one reachable member of two: no quorum.
        await third.DisposeAsync();
        _managers.Remove(third);
        await Task.Delay(TimeSpan.FromSeconds(1.5), TestContext.Current.CancellationToken);
        Assert.False(ManagerQuorum.CanRemove(first.Raft, second.Raft.Id, out var reason));
        Assert.Contains("loss of quorum", reason, StringComparison.Ordinal);
    }

    private SwarmManagerOptions Options(string name) => new()
    {
        DataDirectory = Path.Combine(_root, name),
        ListenEndpoint = new IPEndPoint(IPAddress.Loopback, 0),
        TickInterval = TimeSpan.FromMilliseconds(50),
        LoggerFactory = TestLog.Factory,
    };

    private async Task<SwarmManager> InitializeAsync()
    {
        var store = new Shoal.Store.MemoryStore();
        var credentials = await ClusterSecurity.InitializeAsync(store, TimeProvider.System);
        var view = store.View();
        var manager = await SwarmManager.InitializeAsync(
            Options("m1"), new NodeSecurity(credentials), ClusterSecurity.FindCluster(view)!, view.Nodes.Get(credentials.NodeId)!);
        store.Dispose();
        _managers.Add(manager);
        return manager;
    }

    private async Task<SwarmManager> JoinAsync(string through)
    {
        var name = $"m{_managers.Count + 1}";
        var token = ClusterSecurity.FindCluster(_managers[0].Store.View())!.RootCa.JoinTokens.Manager;
        var credentials = await new JoinClient().JoinAsync(through, token, new CertificateDirectory(Path.Combine(_root, name, "certificates")));
        var manager = await SwarmManager.JoinAsync(Options(name), new NodeSecurity(credentials), [through]);
        _managers.Add(manager);
        return manager;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var manager in _managers)
        {
            await manager.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }
}
