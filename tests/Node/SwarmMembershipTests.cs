using Shoal.DockerApi;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Node.Tests;

/// <summary>Nodes founding, joining, leaving, restarting and changing role, through their local APIs.</summary>
public sealed class SwarmMembershipTests : IAsyncDisposable
{
    private readonly NodeFixture _fixture = new();

    public ValueTask DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task TwoManagersAndThreeWorkersJoiningAFoundedSwarm_AreAllReady_WithOneLeader()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 3, workers: 3);

        // Any manager answers, with the same view: a follower's store is replicated.
        var nodes = await NodeFixture.WaitAsync(managers[2], n => n.Count == 6 && n.All(x => x.Status.State == NodeStates.Ready), "six READY nodes through a follower");
        Assert.Equal(3, nodes.Count(n => n.Spec.Role == NodeRoles.Manager && n.ManagerStatus is not null));
        Assert.Single(nodes, n => n.ManagerStatus?.Leader == true);
        Assert.Equal(["m1", "m2", "m3", "w1", "w2", "w3"], nodes.Select(n => n.Description.Hostname).Order());
        Assert.All(nodes, n => Assert.False(string.IsNullOrEmpty(n.Description.Platform?.OS)));

        var workerInfo = await workers[0].InfoAsync();
        Assert.Equal(LocalNodeStates.Active, workerInfo.Swarm.LocalNodeState);
        Assert.False(workerInfo.Swarm.ControlAvailable);
        Assert.Equal(3, workerInfo.Swarm.RemoteManagers?.Count);
        var (status, message) = await workers[0].SendAsync(HttpMethod.Get, "/v1.50/nodes");
        Assert.Equal(503, status);
        Assert.Equal(DockerApiException.NotAManagerMessage, message);
    }

    [Fact]
    public async Task BadRequests_AreRefusedWithDockersStatusAndMessage_AndChangeNothing()
    {
        var (managers, _) = await _fixture.StartSwarmAsync(managers: 1, workers: 0);
        var manager = managers[0];

        Assert.Equal((503, DockerApiException.AlreadyInSwarmMessage), await manager.SendAsync(HttpMethod.Post, "/v1.50/swarm/init", "{}"));
        Assert.Equal((503, DockerApiException.LeaveManagerMessage), await manager.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave"));

        var outsider = await _fixture.StartNodeAsync("x1");
        Assert.Equal((503, DockerApiException.NotInSwarmMessage), await outsider.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave"));
        var (noRemote, noRemoteMessage) = await outsider.SendAsync(HttpMethod.Post, "/v1.50/swarm/join", "{\"JoinToken\":\"SWMTKN-1-x\"}");
        Assert.Equal((400, "at least 1 RemoteAddr is required to join"), (noRemote, noRemoteMessage));
        var (malformed, _) = await outsider.SendAsync(HttpMethod.Post, "/v1.50/swarm/join", "{\"RemoteAddrs\":[");
        Assert.Equal(400, malformed);

        // A token of the right shape whose secret is wrong: refused by the CA, and the node stays out of any swarm.
        var good = await manager.JoinTokenAsync(manager: false);
        var wrong = good[..^5] + (good[^5..] == "aaaaa" ? "bbbbb" : "aaaaa");
        var (refused, refusal) = await outsider.SendAsync(HttpMethod.Post, "/v1.50/swarm/join", $"{{\"RemoteAddrs\":[\"{manager.Address}\"],\"JoinToken\":\"{wrong}\"}}");
        Assert.Equal(400, refused);
        Assert.Contains("token", refusal, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(LocalNodeStates.Inactive, (await outsider.InfoAsync()).Swarm.LocalNodeState);
        Assert.False(Directory.Exists(Path.Combine(outsider.DataDirectory, "certificates")));
        Assert.Single(await manager.NodesAsync());

        // The same node joins with the right token afterwards.
        await outsider.JoinAsync(good, manager);
        await NodeFixture.WaitAsync(manager, n => n.Count == 2 && n.All(x => x.Status.State == NodeStates.Ready), "the outsider READY after joining with the right token");

        // An unknown node, and an update with a stale version.
        Assert.Equal(404, (await manager.SendAsync(HttpMethod.Get, "/v1.50/nodes/nosuchnode")).Status);
        var (stale, staleMessage) = await manager.SendAsync(HttpMethod.Post, $"/v1.50/nodes/{outsider.Running.NodeId}/update?version=1", "{\"Role\":\"worker\",\"Availability\":\"drain\"}");
        Assert.Equal(500, stale);
        Assert.Contains("update out of sequence", staleMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PromotingAWorker_StartsItsManagerPart_AndDemotingTheLeader_HandsOverAndKeepsItAsAWorker()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 2, workers: 1);
        var leader = managers[0];
        var worker = workers[0];
        var workerId = worker.Running.NodeId!;

        Assert.Equal(200, (await leader.SetRoleAsync(workerId, NodeRoles.Manager)).Status);
        await Eventually.TrueAsync(() => worker.Running.Manager is not null, "the promoted worker runs its manager part", TimeSpan.FromSeconds(30));
        await NodeFixture.WaitAsync(leader, n => n.Count(x => x.ManagerStatus is not null) == 3, "three managers with a manager status");
        Assert.True((await worker.InfoAsync()).Swarm.ControlAvailable);
        Assert.True(Directory.Exists(Path.Combine(worker.DataDirectory, "raft")));

        var leaderId = leader.Running.NodeId!;
        Assert.Equal(200, (await leader.SetRoleAsync(leaderId, NodeRoles.Worker)).Status);
        await Eventually.TrueAsync(() => leader.Running.Manager is null, "the demoted leader stops its manager part", TimeSpan.FromSeconds(30));
        var nodes = await NodeFixture.WaitAsync(managers[1], n => n.Single(x => x.ID == leaderId) is { Spec.Role: NodeRoles.Worker, ManagerStatus: null, Status.State: NodeStates.Ready } && n.Count(x => x.ManagerStatus?.Leader == true) == 1, "the old leader a READY worker, and a new leader");
        Assert.NotEqual(leaderId, nodes.Single(n => n.ManagerStatus?.Leader == true).ID);
        Assert.False((await leader.InfoAsync()).Swarm.ControlAvailable);
        await Eventually.TrueAsync(() => !Directory.Exists(Path.Combine(leader.DataDirectory, "raft")), "the demoted leader's Raft state deleted");
    }

    [Fact]
    public async Task ADemotionThatWouldLoseQuorum_IsRefused_AndARemovedNodeCannotComeBack()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 3, workers: 1, heartbeat: TimeSpan.FromSeconds(1));
        var (first, second, third) = (managers[0], managers[1], managers[2]);

        // Removing a live node needs force; a manager can't be removed before it is demoted.
        var workerId = workers[0].Running.NodeId!;
        var (live, liveMessage) = await first.SendAsync(HttpMethod.Delete, $"/v1.50/nodes/{workerId}");
        Assert.Equal(400, live);
        Assert.Contains("is not down and can't be removed", liveMessage, StringComparison.Ordinal);
        Assert.Equal(200, (await first.SendAsync(HttpMethod.Delete, $"/v1.50/nodes/{workerId}?force=true")).Status);
        await Eventually.TrueAsync(() => !workers[0].Running.Session!.IsConnected, "the removed worker's session is refused", TimeSpan.FromSeconds(20));
        var removed = (await workers[0].InfoAsync()).Swarm;
        await Eventually.TrueAsync(() => workers[0].Running.Info.LocalNodeState == LocalNodeStates.Error, "the removed worker in the error state", TimeSpan.FromSeconds(20));
        Assert.Contains("swarm leave --force", workers[0].Running.Info.Error, StringComparison.Ordinal);
        Assert.NotNull(removed);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.DoesNotContain(await first.NodesAsync(), n => n.ID == workerId);

        // Three managers, one gone: demoting another would leave one reachable manager of two, no quorum.
        await third.StopAsync();
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        var secondId = second.Running.NodeId!;
        var (refused, reason) = await first.SetRoleAsync(secondId, NodeRoles.Worker);
        Assert.True(refused >= 400, $"demoting with a third manager down answered {refused}: {reason}");
        Assert.Contains("quorum", reason, StringComparison.Ordinal);
        Assert.Equal(NodeRoles.Manager, (await first.NodesAsync()).Single(n => n.ID == secondId).Spec.Role);
    }

    [Fact]
    public async Task NodesRestartedFromTheirDataDirectories_ComeBackReady_WithTheirIdentity()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 3, workers: 1, heartbeat: TimeSpan.FromSeconds(1));
        var manager = managers[2];
        var worker = workers[0];
        var (managerId, workerId) = (manager.Running.NodeId, worker.Running.NodeId);

        await manager.StopAsync();
        await worker.StopAsync();
        await NodeFixture.WaitAsync(managers[0], n => n.Single(x => x.ID == workerId).Status.State == NodeStates.Down, "the stopped worker DOWN");
        await manager.StartAsync();
        await worker.StartAsync();

        Assert.Equal(managerId, manager.Running.NodeId);
        Assert.Equal(workerId, worker.Running.NodeId);
        Assert.NotNull(manager.Running.Manager);
        await NodeFixture.WaitAsync(managers[0], n => n.Count == 4 && n.All(x => x.Status.State == NodeStates.Ready), "every node READY again");
        Assert.True((await manager.InfoAsync()).Swarm.ControlAvailable);
        await NodeFixture.WaitAsync(manager, n => n.Count == 4, "the restarted manager answers with the swarm's four nodes");
    }

    [Fact]
    public async Task AWorkerThatLeaves_IsDownForTheManagers_AndItsDataDirectoryForgetsTheSwarm()
    {
        var (managers, workers) = await _fixture.StartSwarmAsync(managers: 1, workers: 1, heartbeat: TimeSpan.FromSeconds(1));
        var worker = workers[0];
        var workerId = worker.Running.NodeId;

        Assert.Equal(200, (await worker.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave")).Status);

        Assert.Equal(LocalNodeStates.Inactive, (await worker.InfoAsync()).Swarm.LocalNodeState);
        Assert.False(File.Exists(Path.Combine(worker.DataDirectory, NodeStateFile.FileName)));
        Assert.False(Directory.Exists(Path.Combine(worker.DataDirectory, "certificates")));
        await NodeFixture.WaitAsync(managers[0], n => n.Single(x => x.ID == workerId).Status.State == NodeStates.Down, "the worker that left DOWN");
    }

    [Fact]
    public async Task AManagerLeavingWithForce_LeavesTheRaftGroupFirst_SoTheOthersKeepTheirQuorum()
    {
        var (managers, _) = await _fixture.StartSwarmAsync(managers: 3, workers: 0, heartbeat: TimeSpan.FromSeconds(1));
        var leaving = managers[2];
        var leavingId = leaving.Running.NodeId!;

        Assert.Equal(200, (await leaving.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave?force=true")).Status);

        Assert.Equal(2, managers[0].Running.Manager!.Raft.Members.Count);
        Assert.DoesNotContain(managers[0].Running.Manager!.Raft.Members, m => m.NodeId == leavingId);
        var nodes = await NodeFixture.WaitAsync(managers[0], n => n.Single(x => x.ID == leavingId) is { Spec.Role: NodeRoles.Worker, Status.State: NodeStates.Down }, "the manager that left a DOWN worker");
        Assert.Equal(2, nodes.Count(n => n.ManagerStatus is not null));

        // With two managers left, one more may go: the quorum is counted without the one that left.
        Assert.Equal(200, (await managers[0].SetRoleAsync(managers[1].Running.NodeId!, NodeRoles.Worker)).Status);
    }

    [Fact]
    public void ASocketPathTooLongToBind_IsRefusedBeforeAnythingStarts()
    {
        var options = new NodeOptions { DataDirectory = "/tmp/" + new string('d', 120) };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("107 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task AFoundedSwarmsSecrets_AreOwnerOnly_OnDisk()
    {
        var (managers, _) = await _fixture.StartSwarmAsync(managers: 1, workers: 0);
        var directory = managers[0].DataDirectory;

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory, "certificates", Ca.Client.CertificateDirectory.KeyFile)));
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(Path.Combine(directory, "certificates")) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead));
    }
}
