using System.Text.Json;
using Shoal.TestKit;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Tests;

/// <summary>The real docker CLI (28.2.2) against the facade: what operators type must work unchanged.</summary>
public sealed class DockerCliTests : IAsyncLifetime
{
    private DockerApiHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _host = await DockerApiHost.StartAsync();
        await _host.Plane.AddNodeAsync("worker-1", name: "w1");
    }

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task DockerInfo_ShowsTheSwarmAndItsCluster()
    {
        var output = await DockerAsync("info");

        Assert.Contains("Swarm: active", output, StringComparison.Ordinal);
        Assert.Contains($"NodeID: {_host.Plane.ManagerId}", output, StringComparison.Ordinal);
        Assert.Contains("Is Manager: true", output, StringComparison.Ordinal);
        Assert.Contains($"ClusterID: {_host.Plane.Cluster.Id}", output, StringComparison.Ordinal);
        Assert.Contains("Managers: 1", output, StringComparison.Ordinal);
        Assert.Contains("Nodes: 2", output, StringComparison.Ordinal);
        Assert.Contains("Task History Retention Limit: 5", output, StringComparison.Ordinal);
        Assert.Contains("Heartbeat Period: 5 seconds", output, StringComparison.Ordinal);
        Assert.Contains("Expiry Duration: 3 months", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DockerNodeLs_ListsEveryNode_AndMarksSelf()
    {
        var table = await DockerAsync("node", "ls");
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.StartsWith("ID", lines[0], StringComparison.Ordinal);
        Assert.Contains("MANAGER STATUS", lines[0], StringComparison.Ordinal);
        Assert.Equal(3, lines.Length);
        var self = Assert.Single(lines, l => l.StartsWith(_host.Plane.ManagerId + " *", StringComparison.Ordinal));
        Assert.Matches(@"manager-1\s+Ready\s+Active\s+Leader\s+0\.1\.0", self);
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"worker-1\s+Ready\s+Active\s+0\.1\.0"));
    }

    [Fact]
    public async Task DockerNodeInspect_PrintsTheNodeAsJson()
    {
        var output = await DockerAsync("node", "inspect", _host.Plane.ManagerId);

        using var document = JsonDocument.Parse(output);
        var node = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal(_host.Plane.ManagerId, node.GetProperty("ID").GetString());
        Assert.Equal("manager", node.GetProperty("Spec").GetProperty("Role").GetString());
        Assert.Equal("manager-1", node.GetProperty("Description").GetProperty("Hostname").GetString());
        Assert.True(node.GetProperty("ManagerStatus").GetProperty("Leader").GetBoolean());
    }

    [Fact]
    public async Task DockerNodeUpdate_Drain_AndPromote_WriteTheSpec()
    {
        var workerId = _host.Plane.Store.View().Nodes.All().Single(n => n.Description.Hostname == "worker-1").Id;

        Assert.Equal("w1", (await DockerAsync("node", "update", "--availability", "drain", "w1")).Trim());
        Assert.Equal(Proto.NodeAvailability.Drain, _host.Plane.Node(workerId).Spec.Availability);

        Assert.Contains("Node w1 promoted to a manager in the swarm.", await DockerAsync("node", "promote", "w1"), StringComparison.Ordinal);
        Assert.Equal(Proto.NodeRole.Manager, _host.Plane.Node(workerId).Spec.DesiredRole);
        Assert.Equal(Proto.NodeAvailability.Drain, _host.Plane.Node(workerId).Spec.Availability);
    }

    [Fact]
    public async Task DockerSwarmJoinToken_PrintsTheJoinCommand()
    {
        var output = await DockerAsync("swarm", "join-token", "worker");

        Assert.Contains("To add a worker to this swarm, run the following command:", output, StringComparison.Ordinal);
        Assert.Contains($"docker swarm join --token {_host.Plane.Cluster.RootCa.JoinTokens.Worker} 127.0.0.1:4242", output, StringComparison.Ordinal);
        Assert.Equal(_host.Plane.Cluster.RootCa.JoinTokens.Worker, (await DockerAsync("swarm", "join-token", "-q", "worker")).Trim());
    }

    [Fact]
    public async Task DockerNodeRm_OfALiveNode_PrintsTheDaemonsError()
    {
        var (exitCode, _, error) = await RunAsync("node", "rm", "w1");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("Error response from daemon: rpc error: code = FailedPrecondition desc = node", error, StringComparison.Ordinal);
        Assert.Contains("is not down and can't be removed", error, StringComparison.Ordinal);
    }

    private async Task<string> DockerAsync(params string[] arguments)
    {
        var (exitCode, output, error) = await RunAsync(arguments);
        Assert.True(exitCode == 0, $"docker {string.Join(' ', arguments)} exited {exitCode}: {error}");
        return output;
    }

    private Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] arguments)
    {
        Assert.SkipUnless(DockerCli.IsInstalled, $"the docker CLI is not installed at {DockerCli.Path}");
        return DockerCli.RunAsync(_host.SocketPath, Path.Combine(_host.Directory, "docker-config"), arguments, cancellationToken: Ct);
    }
}
