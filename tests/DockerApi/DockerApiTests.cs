using System.Text.Json;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Tests;

/// <summary>The Docker API over its unix socket, against the real control API behind a mutual-TLS cluster port.</summary>
public sealed class DockerApiTests : IAsyncLifetime
{
    private const string NotAManager =
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

    private DockerApiHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await DockerApiHost.StartAsync();

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData("HEAD")]
    [InlineData("GET")]
    public async Task Ping_AnswersOk_WithDockersHeaders(string method)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri("/_ping", UriKind.Relative));
        using var response = await _host.Http.SendAsync(request, Ct);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("1.50", Header(response, "Api-Version"));
        Assert.Equal("linux", Header(response, "Ostype"));
        Assert.Equal("false", Header(response, "Docker-Experimental"));
        Assert.Equal("active/manager", Header(response, "Swarm"));
        Assert.Equal("Docker/0.1.0 (linux)", Header(response, "Server"));
        Assert.Equal("no-cache", Header(response, "Pragma"));
        Assert.Contains("no-store", Header(response, "Cache-Control"), StringComparison.Ordinal);
        Assert.Equal(method == "GET" ? "OK" : string.Empty, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Ping_SwarmHeader_FollowsTheLocalNodeState()
    {
        _host.Node.Info = _host.Node.Info with { ControlAvailable = false };
        using (var worker = await _host.Http.GetAsync(new Uri("/_ping", UriKind.Relative), Ct))
        {
            Assert.Equal("active/worker", Header(worker, "Swarm"));
        }

        _host.Node.Info = _host.Node.Info with { LocalNodeState = LocalNodeStates.Inactive };
        using var inactive = await _host.Http.GetAsync(new Uri("/_ping", UriKind.Relative), Ct);
        Assert.Equal("inactive", Header(inactive, "Swarm"));
    }

    [Fact]
    public async Task Versions_PrefixedAndUnprefixed_AreServed_TooNewAndTooOld_Are400()
    {
        Assert.Equal("1.50", (await _host.GetOkAsync<SystemVersion>("/v1.50/version", Ct)).ApiVersion);
        Assert.Equal("1.50", (await _host.GetOkAsync<SystemVersion>("/v1.44/version", Ct)).ApiVersion);
        var version = await _host.GetOkAsync<SystemVersion>("/version", Ct);
        Assert.Equal("0.1.0", version.Version);
        Assert.Equal("1.24", version.MinAPIVersion);
        Assert.Equal("amd64", version.Arch);
        Assert.Equal("Engine", Assert.Single(version.Components).Name);

        Assert.Equal((400, "client version 1.51 is too new. Maximum supported API version is 1.50"), await _host.SendAsync(HttpMethod.Get, "/v1.51/version", null, Ct));
        var (status, message) = await _host.SendAsync(HttpMethod.Get, "/v1.12/info", null, Ct);
        Assert.Equal(400, status);
        Assert.StartsWith("client version 1.12 is too old. Minimum supported API version is 1.24", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_Answer_CarriesTheApiHeaders_AndUnknownPathsAre404()
    {
        using var response = await _host.Http.GetAsync(new Uri("/v1.50/nosuch", UriKind.Relative), Ct);
        Assert.Equal(404, (int)response.StatusCode);
        Assert.Equal("1.50", Header(response, "Api-Version"));
        Assert.Equal("linux", Header(response, "Ostype"));
        Assert.Equal((404, "page not found"), await _host.SendAsync(HttpMethod.Get, "/nosuch", null, Ct));
    }

    [Fact]
    public async Task Info_HasTheSwarmBlock_WithClusterCounts()
    {
        await _host.Plane.AddNodeAsync("worker-1");

        var info = await _host.GetOkAsync<Info>("/v1.50/info", Ct);

        Assert.Equal("manager-1", info.Name);
        Assert.Equal(2, info.NCPU);
        Assert.Equal("0.1.0", info.ServerVersion);
        var swarm = info.Swarm;
        Assert.Equal(_host.Plane.ManagerId, swarm.NodeID);
        Assert.Equal("active", swarm.LocalNodeState);
        Assert.True(swarm.ControlAvailable);
        Assert.Equal(string.Empty, swarm.Error);
        Assert.Equal(2, swarm.Nodes);
        Assert.Equal(1, swarm.Managers);
        Assert.Equal("127.0.0.1:4242", Assert.Single(swarm.RemoteManagers!).Addr);
        var cluster = Assert.IsType<ClusterInfo>(swarm.Cluster);
        Assert.Equal(_host.Plane.Cluster.Id, cluster.ID);
        Assert.Equal("default", cluster.Spec.Name);
        Assert.Equal(5, cluster.Spec.Orchestration.TaskHistoryRetentionLimit);
        Assert.Equal(5_000_000_000, cluster.Spec.Dispatcher.HeartbeatPeriod);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", cluster.TLSInfo.TrustRoot, StringComparison.Ordinal);
        Assert.NotEmpty(cluster.TLSInfo.CertIssuerPublicKey!);
    }

    [Fact]
    public async Task Info_OnANodeThatIsNotAManager_HasNoCluster()
    {
        _host.Node.Info = _host.Node.Info with { ControlAvailable = false };
        _host.Node.Control = null;

        var info = await _host.GetOkAsync<Info>("/info", Ct);

        Assert.False(info.Swarm.ControlAvailable);
        Assert.Null(info.Swarm.Cluster);
    }

    [Fact]
    public async Task Swarm_Inspect_ShowsJoinTokens_TimesInRfc3339_AndNoKeyMaterial()
    {
        using var response = await _host.Http.GetAsync(new Uri("/v1.50/swarm", UriKind.Relative), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        var swarm = JsonSerializer.Deserialize(text, DockerJsonContext.Default.Swarm)!;
        var stored = _host.Plane.Cluster;

        Assert.Equal(stored.RootCa.JoinTokens.Worker, swarm.JoinTokens.Worker);
        Assert.Equal(stored.RootCa.JoinTokens.Manager, swarm.JoinTokens.Manager);
        Assert.Equal(stored.Meta.Version, swarm.Version.Index);
        Assert.Equal(7_776_000_000_000_000, swarm.Spec.CAConfig.NodeCertExpiry);
        Assert.Equal(4789u, swarm.DataPathPort);
        using var document = JsonDocument.Parse(text);
        var createdAt = document.RootElement.GetProperty("CreatedAt").GetString()!;
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", createdAt);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        Assert.False(document.RootElement.GetProperty("Spec").GetProperty("CAConfig").TryGetProperty("SigningCAKey", out _));
    }

    [Fact]
    public async Task SwarmUpdate_WithTheSpecReadBack_ChangesNothing()
    {
        var before = _host.Plane.Cluster;
        using var response = await _host.Http.GetAsync(new Uri("/v1.50/swarm", UriKind.Relative), Ct);
        var json = await response.Content.ReadAsStringAsync(Ct);
        var swarm = JsonSerializer.Deserialize(json, DockerJsonContext.Default.Swarm)!;
        // Post back exactly the JSON text of the spec, as the CLI does.
        var specJson = JsonDocument.Parse(json).RootElement.GetProperty("Spec").GetRawText();

        var result = await _host.SendAsync(HttpMethod.Post, $"/v1.50/swarm/update?version={swarm.Version.Index}&rotateWorkerToken=false&rotateManagerToken=false&rotateManagerUnlockKey=false", specJson, Ct);

        Assert.Equal(200, result.Status);
        var after = _host.Plane.Cluster;
        Assert.Equal(before.Spec, after.Spec);
        Assert.Equal(before.RootCa, after.RootCa);
        Assert.True(after.Meta.Version > before.Meta.Version);
    }

    [Fact]
    public async Task SwarmUpdate_ChangesSettings_AndRotatesTheWorkerToken()
    {
        var swarm = await _host.GetOkAsync<Swarm>("/swarm", Ct);
        swarm.Spec.Orchestration.TaskHistoryRetentionLimit = 10;

        var result = await _host.PostAsync($"/swarm/update?version={swarm.Version.Index}&rotateWorkerToken=true&rotateManagerToken=false&rotateManagerUnlockKey=false", swarm.Spec, DockerJsonContext.Default.Spec, Ct);

        Assert.Equal(200, result.Status);
        var after = await _host.GetOkAsync<Swarm>("/swarm", Ct);
        Assert.Equal(10, after.Spec.Orchestration.TaskHistoryRetentionLimit);
        Assert.NotEqual(swarm.JoinTokens.Worker, after.JoinTokens.Worker);
        Assert.Equal(swarm.JoinTokens.Manager, after.JoinTokens.Manager);
    }

    [Fact]
    public async Task SwarmUpdate_StaleVersion_Is500_UpdateOutOfSequence()
    {
        var swarm = await _host.GetOkAsync<Swarm>("/swarm", Ct);
        var url = $"/swarm/update?version={swarm.Version.Index}&rotateWorkerToken=true";
        Assert.Equal(200, (await _host.PostAsync(url, swarm.Spec, DockerJsonContext.Default.Spec, Ct)).Status);

        var stale = await _host.PostAsync(url, swarm.Spec, DockerJsonContext.Default.Spec, Ct);

        Assert.Equal((500, "rpc error: code = Unknown desc = update out of sequence"), stale);
    }

    [Fact]
    public async Task SwarmUpdate_BadInput_Is400()
    {
        var swarm = await _host.GetOkAsync<Swarm>("/swarm", Ct);

        var malformed = await _host.SendAsync(HttpMethod.Post, $"/swarm/update?version={swarm.Version.Index}", "{\"Name\": ", Ct);
        Assert.Equal(400, malformed.Status);
        Assert.StartsWith("malformed JSON in the request body", malformed.Message, StringComparison.Ordinal);

        var noVersion = await _host.PostAsync("/swarm/update", swarm.Spec, DockerJsonContext.Default.Spec, Ct);
        Assert.Equal(400, noVersion.Status);
        Assert.StartsWith("invalid swarm version ''", noVersion.Message, StringComparison.Ordinal);

        swarm.Spec.EncryptionConfig.AutoLockManagers = true;
        var autolock = await _host.PostAsync($"/swarm/update?version={swarm.Version.Index}", swarm.Spec, DockerJsonContext.Default.Spec, Ct);
        Assert.Equal((400, "rpc error: code = InvalidArgument desc = autolock is not supported yet"), autolock);
    }

    [Fact]
    public async Task UnlockKey_IsEmpty_WhileAutolockIsOff()
    {
        var key = await _host.GetOkAsync<UnlockKeyResponse>("/v1.50/swarm/unlockkey", Ct);

        Assert.Equal(string.Empty, key.UnlockKey);
    }

    [Fact]
    public async Task Nodes_List_AppliesFilters_InBothJsonForms()
    {
        var worker = await _host.Plane.AddNodeAsync("worker-1", labels: new Dictionary<string, string> { ["zone"] = "a" });
        await _host.Plane.AddNodeAsync("worker-2", membership: Proto.NodeMembership.Pending);

        var all = await _host.GetOkAsync<List<Node>>("/v1.50/nodes", Ct);
        Assert.Equal(3, all.Count);
        var self = all.Single(n => n.ID == _host.Plane.ManagerId);
        Assert.Equal("manager-1", self.Description.Hostname);
        Assert.Equal("manager", self.Spec.Role);
        Assert.Equal("active", self.Spec.Availability);
        Assert.Equal("ready", self.Status.State);
        Assert.True(self.ManagerStatus!.Leader);
        Assert.Equal("reachable", self.ManagerStatus.Reachability);
        Assert.Null(all.Single(n => n.ID == worker.Id).ManagerStatus);

        Assert.Equal([_host.Plane.ManagerId], await IdsAsync("""{"role":{"manager":true}}"""));
        Assert.Equal([worker.Id], await IdsAsync("""{"node.label":["zone=a"]}"""));
        Assert.Equal([worker.Id], await IdsAsync("""{"name":{"worker-1":true},"membership":{"accepted":true}}"""));
        Assert.Equal(2, (await IdsAsync("""{"name":["worker"]}""")).Length);
        Assert.Equal([worker.Id], await IdsAsync("{\"id\":{\"" + worker.Id[..12] + "\":true}}"));

        Assert.Equal((400, "invalid filter 'foo'"), await _host.SendAsync(HttpMethod.Get, "/nodes?filters=" + Uri.EscapeDataString("""{"foo":{"x":true}}"""), null, Ct));
        var badRole = await _host.SendAsync(HttpMethod.Get, "/nodes?filters=" + Uri.EscapeDataString("""{"role":{"boss":true}}"""), null, Ct);
        Assert.Equal(400, badRole.Status);
        Assert.StartsWith("invalid role filter: 'boss'", badRole.Message, StringComparison.Ordinal);
        Assert.Equal(400, (await _host.SendAsync(HttpMethod.Get, "/nodes?filters=" + Uri.EscapeDataString("{nope"), null, Ct)).Status);

        async Task<string[]> IdsAsync(string filters) =>
            [.. (await _host.GetOkAsync<List<Node>>("/nodes?filters=" + Uri.EscapeDataString(filters), Ct)).Select(n => n.ID).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task Nodes_Inspect_ByIdNameHostnameAndPrefix_UnknownIs404()
    {
        var worker = await _host.Plane.AddNodeAsync("worker-host", name: "worker-1");

        Assert.Equal(worker.Id, (await _host.GetOkAsync<Node>($"/v1.50/nodes/{worker.Id}", Ct)).ID);
        Assert.Equal(worker.Id, (await _host.GetOkAsync<Node>("/v1.50/nodes/worker-1", Ct)).ID);
        Assert.Equal(worker.Id, (await _host.GetOkAsync<Node>("/v1.50/nodes/worker-host", Ct)).ID);
        var prefix = worker.Id[..1] == _host.Plane.ManagerId[..1] ? worker.Id[..20] : worker.Id[..1];
        var byPrefix = await _host.GetOkAsync<Node>($"/v1.50/nodes/{prefix}", Ct);
        Assert.Equal(worker.Id, byPrefix.ID);
        Assert.Equal("worker-1", byPrefix.Spec.Name);
        Assert.Equal(worker.Meta.Version, byPrefix.Version.Index);

        Assert.Equal((404, "node nosuch not found"), await _host.SendAsync(HttpMethod.Get, "/v1.50/nodes/nosuch", null, Ct));
    }

    [Fact]
    public async Task Nodes_Update_DrainLabelsAndRole_WithTheVersionRead()
    {
        var worker = await _host.Plane.AddNodeAsync("worker-1");
        var node = await _host.GetOkAsync<Node>("/nodes/worker-1", Ct);
        node.Spec.Availability = "drain";
        node.Spec.Labels["zone"] = "b";
        node.Spec.Role = "manager";

        var result = await _host.PostAsync($"/v1.50/nodes/worker-1/update?version={node.Version.Index}", node.Spec, DockerJsonContext.Default.NodeSpec, Ct);

        Assert.Equal(200, result.Status);
        var stored = _host.Plane.Node(worker.Id);
        Assert.Equal(Proto.NodeAvailability.Drain, stored.Spec.Availability);
        Assert.Equal("b", stored.Spec.Annotations.Labels["zone"]);
        Assert.Equal(Proto.NodeRole.Manager, stored.Spec.DesiredRole);
        Assert.Equal(Proto.NodeMembership.Accepted, stored.Spec.Membership);

        var stale = await _host.PostAsync($"/v1.50/nodes/{worker.Id}/update?version={node.Version.Index}", node.Spec, DockerJsonContext.Default.NodeSpec, Ct);
        Assert.Equal((500, "rpc error: code = Unknown desc = update out of sequence"), stale);
    }

    [Fact]
    public async Task Nodes_Update_BadInput_Is400_UnknownNodeIs404()
    {
        var node = await _host.GetOkAsync<Node>("/nodes/manager-1", Ct);
        var url = $"/nodes/manager-1/update?version={node.Version.Index}";

        var malformed = await _host.SendAsync(HttpMethod.Post, url, "{\"Role\": [", Ct);
        Assert.Equal(400, malformed.Status);
        Assert.StartsWith("malformed JSON in the request body", malformed.Message, StringComparison.Ordinal);

        node.Spec.Availability = "sleepy";
        var badAvailability = await _host.PostAsync(url, node.Spec, DockerJsonContext.Default.NodeSpec, Ct);
        Assert.Equal(400, badAvailability.Status);
        Assert.StartsWith("invalid Availability: \"sleepy\"", badAvailability.Message, StringComparison.Ordinal);

        node.Spec.Availability = "active";
        node.Spec.Role = "worker";
        var lastManager = await _host.PostAsync(url, node.Spec, DockerJsonContext.Default.NodeSpec, Ct);
        Assert.Equal(400, lastManager.Status);
        Assert.Contains("attempting to demote the last manager of the swarm", lastManager.Message, StringComparison.Ordinal);

        Assert.Equal((404, "node nosuch not found"), await _host.PostAsync("/nodes/nosuch/update?version=1", node.Spec, DockerJsonContext.Default.NodeSpec, Ct));
    }

    [Fact]
    public async Task Nodes_Remove_LiveNodeNeedsForce()
    {
        var worker = await _host.Plane.AddNodeAsync("worker-1");

        var refused = await _host.SendAsync(HttpMethod.Delete, "/v1.50/nodes/worker-1", null, Ct);
        Assert.Equal((400, $"rpc error: code = FailedPrecondition desc = node {worker.Id} is not down and can't be removed"), refused);

        var manager = await _host.SendAsync(HttpMethod.Delete, "/v1.50/nodes/manager-1?force=1", null, Ct);
        Assert.Equal(400, manager.Status);
        Assert.Contains("must be demoted to worker before removal", manager.Message, StringComparison.Ordinal);

        Assert.Equal(200, (await _host.SendAsync(HttpMethod.Delete, "/v1.50/nodes/worker-1?force=1", null, Ct)).Status);
        Assert.Null(_host.Plane.Store.View().Nodes.Get(worker.Id));
        Assert.Equal(404, (await _host.SendAsync(HttpMethod.Delete, "/v1.50/nodes/worker-1", null, Ct)).Status);
    }

    [Fact]
    public async Task ManagerEndpoints_OnANodeThatIsNotAManager_Are503()
    {
        _host.Node.Info = _host.Node.Info with { ControlAvailable = false };
        _host.Node.Control = null;

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/v1.50/swarm"),
            (HttpMethod.Get, "/v1.50/swarm/unlockkey"),
            (HttpMethod.Post, "/v1.50/swarm/update?version=1"),
            (HttpMethod.Get, "/v1.50/nodes"),
            (HttpMethod.Get, "/v1.50/nodes/manager-1"),
            (HttpMethod.Post, "/v1.50/nodes/manager-1/update?version=1"),
            (HttpMethod.Delete, "/v1.50/nodes/manager-1"),
        })
        {
            Assert.Equal((503, NotAManager), await _host.SendAsync(method, path, method == HttpMethod.Post ? "{}" : null, Ct));
        }

        _host.Node.Info = _host.Node.Info with { LocalNodeState = LocalNodeStates.Locked };
        var locked = await _host.SendAsync(HttpMethod.Get, "/v1.50/nodes", null, Ct);
        Assert.Equal((503, DockerApiException.LockedMessage), locked);
    }

    [Fact]
    public async Task InitJoinLeave_GoToTheNode_AndItsRefusalsKeepTheirStatus()
    {
        var init = """{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"10.0.0.1","DataPathAddr":"","DataPathPort":0,"ForceNewCluster":false,"Spec":{"Labels":null,"Orchestration":{},"Raft":{"ElectionTick":0,"HeartbeatTick":0},"Dispatcher":{},"CAConfig":{},"TaskDefaults":{},"EncryptionConfig":{"AutoLockManagers":false}},"AutoLockManagers":false,"Availability":"","DefaultAddrPool":[],"SubnetSize":24}""";

        Assert.Equal((503, DockerApiException.AlreadyInSwarmMessage), await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/init", init, Ct));
        var leave = await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave", null, Ct);
        Assert.Equal((503, DockerApiException.LeaveManagerMessage), leave);
        Assert.Equal(200, (await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave?force=1", null, Ct)).Status);

        _host.Node.Info = new LocalNodeInfo { LocalNodeState = LocalNodeStates.Inactive };
        _host.Node.Control = null;
        Assert.Equal((503, DockerApiException.NotInSwarmMessage), await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/leave", null, Ct));
        var created = await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/init", init, Ct);
        Assert.Equal((200, "\"newnode0000000000000000001\""), created);
        Assert.Equal("10.0.0.1", _host.Node.LastInit!.AdvertiseAddr);
        Assert.Equal(24u, _host.Node.LastInit.SubnetSize);

        Assert.Equal((400, "invalid join token"), await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/join", """{"RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"bad"}""", Ct));
        Assert.Equal(200, (await _host.SendAsync(HttpMethod.Post, "/v1.50/swarm/join", """{"RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"SWMTKN-1-x"}""", Ct)).Status);
        Assert.Equal(["leave --force", "init", "join"], _host.Node.Calls);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Socket_IsGroupReadWrite_Only()
    {
        var mode = File.GetUnixFileMode(_host.SocketPath);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
    }

    [Fact]
    public async Task Start_RemovesAStaleSocket_ButRefusesALiveOne()
    {
        var stale = Path.Combine(_host.Directory, "stale.sock");
        // A socket file nobody accepts on, as a daemon killed with -9 leaves it (.NET would unlink it on dispose).
        using var dead = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        dead.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(stale));
        Assert.True(File.Exists(stale));
        await using (var server = await DockerApiServer.StartAsync(stale, _host.Node, cancellationToken: Ct))
        {
            using var client = DockerApiHost.Client(stale);
            Assert.Equal("OK", await client.GetStringAsync(new Uri("/_ping", UriKind.Relative), Ct));
        }

        await Assert.ThrowsAsync<IOException>(() => DockerApiServer.StartAsync(_host.SocketPath, _host.Node, cancellationToken: Ct));
    }

    private static string Header(HttpResponseMessage response, string name) =>
        name == "Server" ? response.Headers.Server.ToString()
        : response.Headers.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.TryGetValues(name, out var content) ? string.Join(",", content)
        : throw new Xunit.Sdk.XunitException($"response has no {name} header");
}
