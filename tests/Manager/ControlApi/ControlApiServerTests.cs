using Grpc.Core;
using Shoal.Api;
using Shoal.Raft.Core;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.ControlApi;

/// <summary>The control API through the real cluster port (mutual TLS on loopback), as a manager's client calls it.</summary>
public sealed class ControlApiServerTests : IAsyncLifetime
{
    private ControlPlane _plane = null!;

    private CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _plane = await ControlPlane.StartAsync();

    public async ValueTask DisposeAsync() => await _plane.DisposeAsync();

    [Fact]
    public async Task GetNode_FindsByIdNameHostnameAndUniquePrefix()
    {
        var worker = await _plane.AddNodeAsync("host-a", name: "web-1");
        var client = _plane.Client;

        Assert.Equal(worker.Id, (await client.GetNodeAsync(new() { NodeRef = worker.Id }, cancellationToken: Ct)).Node.Id);
        Assert.Equal(worker.Id, (await client.GetNodeAsync(new() { NodeRef = "web-1" }, cancellationToken: Ct)).Node.Id);
        Assert.Equal(worker.Id, (await client.GetNodeAsync(new() { NodeRef = "host-a" }, cancellationToken: Ct)).Node.Id);
        Assert.Equal(_plane.ManagerId, (await client.GetNodeAsync(new() { NodeRef = "manager-1" }, cancellationToken: Ct)).Node.Id);
        var prefix = UniquePrefix(worker.Id, _plane.ManagerId);
        Assert.Equal(worker.Id, (await client.GetNodeAsync(new() { NodeRef = prefix }, cancellationToken: Ct)).Node.Id);
    }

    [Fact]
    public async Task GetNode_UnknownReference_IsNotFound()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _plane.Client.GetNodeAsync(new() { NodeRef = "nosuch" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal("node nosuch not found", e.Status.Detail);
    }

    [Fact]
    public async Task GetNode_SharedHostnameOrPrefix_IsAmbiguous()
    {
        await _plane.AddNodeAsync("twin", id: "aaaaaaaaaaaaaaaaaaaaaaaa1");
        await _plane.AddNodeAsync("twin", id: "aaaaaaaaaaaaaaaaaaaaaaaa2");

        var byName = await Assert.ThrowsAsync<RpcException>(() => _plane.Client.GetNodeAsync(new() { NodeRef = "twin" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, byName.StatusCode);
        Assert.Equal("node twin is ambiguous (2 matches found)", byName.Status.Detail);

        var byPrefix = await Assert.ThrowsAsync<RpcException>(() => _plane.Client.GetNodeAsync(new() { NodeRef = "aaaa" }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, byPrefix.StatusCode);
        Assert.Equal("node aaaa is ambiguous (2 matches found)", byPrefix.Status.Detail);
    }

    [Fact]
    public async Task ListNodes_AppliesEveryFilter_OrWithinAList_AndAcrossLists()
    {
        var web = await _plane.AddNodeAsync("web-host", labels: new Dictionary<string, string> { ["zone"] = "a" }, engineLabels: new Dictionary<string, string> { ["disk"] = "ssd" });
        var db = await _plane.AddNodeAsync("db-host", name: "db", labels: new Dictionary<string, string> { ["zone"] = "b" });
        var pending = await _plane.AddNodeAsync("new-host", membership: NodeMembership.Pending);

        async Task<string[]> ListAsync(Action<ListNodesRequest.Types.Filters> set)
        {
            var filters = new ListNodesRequest.Types.Filters();
            set(filters);
            var response = await _plane.Client.ListNodesAsync(new() { Filters = filters }, cancellationToken: Ct);
            return [.. response.Nodes.Select(n => n.Id).Order(StringComparer.Ordinal)];
        }

        string[] Ids(params Node[] nodes) => [.. nodes.Select(n => n.Id).Order(StringComparer.Ordinal)];

        Assert.Equal(4, (await _plane.Client.ListNodesAsync(new(), cancellationToken: Ct)).Nodes.Count);
        Assert.Equal(Ids(web), await ListAsync(f => f.IdPrefixes.Add(web.Id[..10])));
        Assert.Equal(Ids(web, db), await ListAsync(f => f.NamePrefixes.AddRange(["web", "db"])));
        Assert.Equal(Ids(db), await ListAsync(f => f.NamePrefixes.Add("db-h")));
        Assert.Equal(Ids(web, db), await ListAsync(f => f.NodeLabels.Add("zone")));
        Assert.Equal(Ids(db), await ListAsync(f => f.NodeLabels.Add("zone=b")));
        Assert.Empty(await ListAsync(f => f.NodeLabels.AddRange(["zone=a", "zone=b"])));
        Assert.Equal(Ids(web), await ListAsync(f => f.Labels.Add("disk=ssd")));
        Assert.Equal([_plane.ManagerId], await ListAsync(f => f.Roles.Add(NodeRole.Manager)));
        Assert.Equal(Ids(pending), await ListAsync(f => f.Memberships.Add(NodeMembership.Pending)));
        Assert.Empty(await ListAsync(f =>
        {
            f.NodeLabels.Add("zone=a");
            f.Roles.Add(NodeRole.Manager);
        }));
    }

    [Fact]
    public async Task UpdateNode_WritesTheSpecOnly_AndBumpsTheVersion()
    {
        var worker = await _plane.AddNodeAsync("host-a");
        var spec = worker.Spec.Clone();
        spec.Availability = NodeAvailability.Drain;
        spec.Annotations.Labels["zone"] = "a";
        spec.DesiredRole = NodeRole.Manager;

        var response = await _plane.Client.UpdateNodeAsync(new() { NodeId = worker.Id, Version = worker.Meta.Version, Spec = spec }, cancellationToken: Ct);

        var stored = _plane.Node(worker.Id);
        Assert.Equal(stored, response.Node);
        Assert.Equal(NodeAvailability.Drain, stored.Spec.Availability);
        Assert.Equal("a", stored.Spec.Annotations.Labels["zone"]);
        Assert.Equal(NodeRole.Manager, stored.Spec.DesiredRole);
        Assert.Equal(NodeRole.Worker, stored.Role); // the role manager, not the control API, moves the role
        Assert.Equal(worker.Status, stored.Status);
        Assert.True(stored.Meta.Version > worker.Meta.Version);
    }

    [Fact]
    public async Task UpdateNode_StaleVersion_IsUnknown_UpdateOutOfSequence()
    {
        var worker = await _plane.AddNodeAsync("host-a");
        var spec = worker.Spec.Clone();
        spec.Availability = NodeAvailability.Pause;
        await _plane.Client.UpdateNodeAsync(new() { NodeId = worker.Id, Version = worker.Meta.Version, Spec = spec }, cancellationToken: Ct);

        spec.Availability = NodeAvailability.Drain;
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.UpdateNodeAsync(new() { NodeId = worker.Id, Version = worker.Meta.Version, Spec = spec }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Equal("update out of sequence", e.Status.Detail);
        Assert.Equal(NodeAvailability.Pause, _plane.Node(worker.Id).Spec.Availability);
    }

    [Fact]
    public async Task UpdateNode_InvalidSpec_IsInvalidArgument_NamingTheProblem()
    {
        var worker = await _plane.AddNodeAsync("host-a");
        var spec = worker.Spec.Clone();
        spec.Annotations.Name = "not a dns name!";

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.UpdateNodeAsync(new() { NodeId = worker.Id, Version = worker.Meta.Version, Spec = spec }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("not a valid DNS label", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpdateNode_UnknownNode_IsNotFound()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.UpdateNodeAsync(new() { NodeId = "nosuch", Version = 1, Spec = new NodeSpec() }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal("node nosuch not found", e.Status.Detail);
    }

    [Fact]
    public async Task UpdateNode_DemotingTheLastManager_IsFailedPrecondition()
    {
        var manager = _plane.Node(_plane.ManagerId);
        var spec = manager.Spec.Clone();
        spec.DesiredRole = NodeRole.Worker;

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.UpdateNodeAsync(new() { NodeId = manager.Id, Version = manager.Meta.Version, Spec = spec }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("attempting to demote the last manager of the swarm", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(NodeRole.Manager, _plane.Node(manager.Id).Spec.DesiredRole);
    }

    [Fact]
    public async Task UpdateNode_DemotionThatWouldLoseQuorum_IsFailedPrecondition_WithTheQuorumsReason()
    {
        var second = await _plane.AddNodeAsync("manager-2", role: NodeRole.Manager);
        _plane.Quorum.RefuseDemotion = "demoting node x would leave 1 of 2 managers reachable: quorum needs 2";
        var spec = second.Spec.Clone();
        spec.DesiredRole = NodeRole.Worker;

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.UpdateNodeAsync(new() { NodeId = second.Id, Version = second.Meta.Version, Spec = spec }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal(_plane.Quorum.RefuseDemotion, e.Status.Detail);
        Assert.Contains("demote " + second.Id, _plane.Quorum.Asked);
    }

    [Fact]
    public async Task UpdateNode_DemotionTheQuorumAllows_WritesTheDesiredRole()
    {
        var second = await _plane.AddNodeAsync("manager-2", role: NodeRole.Manager);
        var spec = second.Spec.Clone();
        spec.DesiredRole = NodeRole.Worker;

        await _plane.Client.UpdateNodeAsync(new() { NodeId = second.Id, Version = second.Meta.Version, Spec = spec }, cancellationToken: Ct);

        Assert.Equal(NodeRole.Worker, _plane.Node(second.Id).Spec.DesiredRole);
        Assert.Equal(NodeRole.Manager, _plane.Node(second.Id).Role);
    }

    [Fact]
    public async Task RemoveNode_Manager_IsFailedPrecondition_MustBeDemotedFirst()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.RemoveNodeAsync(new() { NodeId = _plane.ManagerId, Force = true }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"node {_plane.ManagerId} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", e.Status.Detail);
    }

    [Fact]
    public async Task RemoveNode_LiveNodeWithoutForce_IsFailedPrecondition()
    {
        var worker = await _plane.AddNodeAsync("host-a", state: NodeState.Ready);

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.RemoveNodeAsync(new() { NodeId = worker.Id }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"node {worker.Id} is not down and can't be removed", e.Status.Detail);
        Assert.NotNull(_plane.Node(worker.Id));
    }

    [Fact]
    public async Task RemoveNode_StillARaftMember_IsFailedPrecondition_WithTheQuorumsReason()
    {
        var worker = await _plane.AddNodeAsync("host-a", state: NodeState.Down);
        _plane.Quorum.RefuseRemoval = "node is still a member of the raft cluster";

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.RemoveNodeAsync(new() { NodeId = worker.Id }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal("node is still a member of the raft cluster", e.Status.Detail);
    }

    [Fact]
    public async Task RemoveNode_DownNode_IsDeleted_AndItsCertificateRefused()
    {
        var worker = await _plane.AddNodeAsync("host-a", state: NodeState.Down);

        await _plane.Client.RemoveNodeAsync(new() { NodeId = worker.Id }, cancellationToken: Ct);

        Assert.Null(_plane.Store.View().Nodes.Get(worker.Id));
        Assert.True(_plane.Cluster.BlacklistedCertificates.ContainsKey(worker.Id));
        Assert.True(_plane.Cluster.BlacklistedCertificates[worker.Id].Expiry.ToDateTimeOffset() > DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task RemoveNode_LiveNodeWithForce_IsDeleted()
    {
        var worker = await _plane.AddNodeAsync("host-a", state: NodeState.Ready);

        await _plane.Client.RemoveNodeAsync(new() { NodeId = worker.Id, Force = true }, cancellationToken: Ct);

        Assert.Null(_plane.Store.View().Nodes.Get(worker.Id));
        Assert.True(_plane.Cluster.BlacklistedCertificates.ContainsKey(worker.Id));
    }

    [Fact]
    public async Task RemoveNode_Unknown_IsNotFound()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            _plane.Client.RemoveNodeAsync(new() { NodeId = "nosuch" }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task GetCluster_CarriesNoKeyMaterial()
    {
        var stored = _plane.Cluster;
        Assert.False(stored.RootCa.CaKey.IsEmpty);

        var cluster = (await _plane.Client.GetClusterAsync(new(), cancellationToken: Ct)).Cluster;

        Assert.Equal(stored.Id, cluster.Id);
        Assert.Equal(stored.Spec, cluster.Spec);
        Assert.Equal(stored.RootCa.CaCert, cluster.RootCa.CaCert);
        Assert.Equal(stored.RootCa.JoinTokens, cluster.RootCa.JoinTokens);
        Assert.True(cluster.RootCa.CaKey.IsEmpty);
        Assert.DoesNotContain("PRIVATE KEY", cluster.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpdateCluster_ChangesTheSpec_AndRotatesOnlyTheAskedToken()
    {
        var before = _plane.Cluster;
        var spec = before.Spec.Clone();
        spec.Orchestration.TaskHistoryRetentionLimit = 10;

        var response = await _plane.Client.UpdateClusterAsync(
            new() { ClusterId = before.Id, Version = before.Meta.Version, Spec = spec, RotateWorkerToken = true }, cancellationToken: Ct);

        var after = _plane.Cluster;
        Assert.Equal(10, after.Spec.Orchestration.TaskHistoryRetentionLimit);
        Assert.NotEqual(before.RootCa.JoinTokens.Worker, after.RootCa.JoinTokens.Worker);
        Assert.Equal(before.RootCa.JoinTokens.Manager, after.RootCa.JoinTokens.Manager);
        Assert.Equal(before.RootCa.CaKey, after.RootCa.CaKey);
        Assert.Equal(after.RootCa.JoinTokens, response.Cluster.RootCa.JoinTokens);
        Assert.True(response.Cluster.RootCa.CaKey.IsEmpty);

        var current = (await _plane.Client.GetClusterAsync(new(), cancellationToken: Ct)).Cluster;
        await _plane.Client.UpdateClusterAsync(
            new() { ClusterId = current.Id, Version = current.Meta.Version, Spec = current.Spec, RotateManagerToken = true }, cancellationToken: Ct);
        Assert.Equal(after.RootCa.JoinTokens.Worker, _plane.Cluster.RootCa.JoinTokens.Worker);
        Assert.NotEqual(after.RootCa.JoinTokens.Manager, _plane.Cluster.RootCa.JoinTokens.Manager);
    }

    [Fact]
    public async Task UpdateCluster_StaleVersion_IsUnknown_UpdateOutOfSequence()
    {
        var before = _plane.Cluster;
        await _plane.Client.UpdateClusterAsync(new() { ClusterId = before.Id, Version = before.Meta.Version, Spec = before.Spec, RotateWorkerToken = true }, cancellationToken: Ct);

        var e = await Assert.ThrowsAsync<RpcException>(() => _plane.Client.UpdateClusterAsync(
            new() { ClusterId = before.Id, Version = before.Meta.Version, Spec = before.Spec, RotateWorkerToken = true }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Equal("update out of sequence", e.Status.Detail);
    }

    [Fact]
    public async Task UpdateCluster_InvalidSpec_AutolockAndRename_AreInvalidArgument()
    {
        var cluster = _plane.Cluster;
        var invalid = cluster.Spec.Clone();
        invalid.Raft.ElectionTick = 1;
        invalid.Raft.HeartbeatTick = 1;
        var autolock = cluster.Spec.Clone();
        autolock.EncryptionConfig.AutoLockManagers = true;
        var renamed = cluster.Spec.Clone();
        renamed.Annotations.Name = "other";

        async Task<RpcException> UpdateAsync(ClusterSpec spec, bool rotateUnlockKey = false) =>
            await Assert.ThrowsAsync<RpcException>(() => _plane.Client.UpdateClusterAsync(
                new() { ClusterId = cluster.Id, Version = cluster.Meta.Version, Spec = spec, RotateManagerUnlockKey = rotateUnlockKey }, cancellationToken: Ct).ResponseAsync);

        var e = await UpdateAsync(invalid);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("election_tick", e.Status.Detail, StringComparison.Ordinal);

        e = await UpdateAsync(autolock);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal("autolock is not supported yet", e.Status.Detail);

        e = await UpdateAsync(cluster.Spec, rotateUnlockKey: true);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal("autolock is not supported yet", e.Status.Detail);

        e = await UpdateAsync(renamed);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("name can't be changed", e.Status.Detail, StringComparison.Ordinal);

        Assert.Equal(cluster, _plane.Cluster);
    }

    [Fact]
    public async Task UpdateCluster_UnknownCluster_IsNotFound()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => _plane.Client.UpdateClusterAsync(
            new() { ClusterId = "nosuch", Version = 1, Spec = _plane.Cluster.Spec }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal("cluster nosuch not found", e.Status.Detail);
    }

    [Fact]
    public async Task Writes_OnAMemberThatIsNotTheLeader_AreUnavailable()
    {
        var proposer = new ScriptedProposer();
        await using var plane = await ControlPlane.StartAsync(proposer);
        var worker = await plane.AddNodeAsync("host-a");
        proposer.FailNext = new NotLeaderException(0);

        var e = await Assert.ThrowsAsync<RpcException>(() => plane.Client.UpdateNodeAsync(
            new() { NodeId = worker.Id, Version = worker.Meta.Version, Spec = worker.Spec }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("not the leader", e.Status.Detail, StringComparison.Ordinal);
    }

    private static string UniquePrefix(string id, string other)
    {
        var length = 1;
        while (other.StartsWith(id[..length], StringComparison.Ordinal))
        {
            length++;
        }

        return id[..length];
    }
}
