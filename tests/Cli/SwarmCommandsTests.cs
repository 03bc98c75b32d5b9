using System.Text.Json;
using Shoal.DockerApi;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary><c>shoal swarm …</c> against the real Docker API and control API: docker's requests, docker's output.</summary>
public sealed class SwarmCommandsTests : IAsyncLifetime
{
    private CliHarness _cli = null!;
    private JoiningSwarmNode _node = null!;

    private string WorkerToken => _cli.Api.Plane.Cluster.RootCa.JoinTokens.Worker;

    private string ManagerToken => _cli.Api.Plane.Cluster.RootCa.JoinTokens.Manager;

    public async ValueTask InitializeAsync() => _cli = await CliHarness.StartAsync(api => _node = new JoiningSwarmNode(api));

    public async ValueTask DisposeAsync() => await _cli.DisposeAsync();

    [Fact]
    public async Task SwarmInit_SendsDockersInitRequest_AndPrintsTheWorkerJoinCommand()
    {
        _node.Inactive();

        var run = await _cli.RunAsync(
            "swarm", "init", "--advertise-addr", "10.0.0.1", "--task-history-limit", "10", "--cert-expiry", "720h", "--default-addr-pool", "10.20.0.0/16");

        Assert.Equal(string.Empty, run.Error);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(
            $"Swarm initialized: current node ({_cli.Api.Plane.ManagerId}) is now a manager.\n\n"
            + "To add a worker to this swarm, run the following command:\n\n"
            + $"    shoal swarm join --token {WorkerToken} 127.0.0.1:4242\n\n"
            + "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n",
            run.Out);
        var init = _cli.Api.Node.LastInit!;
        // No --listen-addr: none is sent, and the agent's own --listen-addr applies.
        Assert.Equal((null, "10.0.0.1", 24u), (init.ListenAddr, init.AdvertiseAddr, init.SubnetSize));
        Assert.Equal(["10.20.0.0/16"], init.DefaultAddrPool!);
        Assert.Equal(10, init.Spec.Orchestration.TaskHistoryRetentionLimit);
        Assert.Equal(720L * 3600 * 1_000_000_000, init.Spec.CAConfig.NodeCertExpiry);
        Assert.Equal(0, init.Spec.Dispatcher.HeartbeatPeriod);
        Assert.Equal(string.Empty, init.Availability);
        Assert.Equal(["POST /v1.50/swarm/init", $"GET /v1.50/nodes/{_cli.Api.Plane.ManagerId}", "GET /v1.50/swarm"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task SwarmInit_OnANodeAlreadyInASwarm_PrintsTheDaemonsRefusal()
    {
        var run = await _cli.RunAsync("swarm", "init");

        Assert.Equal((1, string.Empty, $"Error response from daemon: {DockerApiException.AlreadyInSwarmMessage}\n"), (run.ExitCode, run.Out, run.Error));
        Assert.Empty(_cli.Api.Node.Calls);
    }

    [Fact]
    public async Task SwarmJoin_WithAWorkerToken_JoinsAsAWorker_ThroughTheGivenManager()
    {
        _node.Inactive();

        var run = await _cli.RunAsync("swarm", "join", "--token", "SWMTKN-1-worker", "--listen-addr", ":5000", "--advertise-addr", "10.0.0.7", "--availability", "Drain", "10.0.0.9:4242");

        Assert.Equal((0, "This node joined a swarm as a worker.\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        var join = _cli.Api.Node.LastJoin!;
        Assert.Equal(["10.0.0.9:4242"], join.RemoteAddrs);
        Assert.Equal(("SWMTKN-1-worker", "0.0.0.0:5000", "10.0.0.7", "drain"), (join.JoinToken, join.ListenAddr, join.AdvertiseAddr, join.Availability));
        Assert.Equal(["POST /v1.50/swarm/join", "GET /v1.50/info"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task SwarmJoin_WithAManagerToken_SaysTheNodeIsAManager()
    {
        _node.Inactive();

        var run = await _cli.RunAsync("swarm", "join", "--token", _node.ManagerToken, "10.0.0.9:4242");

        Assert.Equal((0, "This node joined a swarm as a manager.\n"), (run.ExitCode, run.Out));
        Assert.Null(_cli.Api.Node.LastJoin!.ListenAddr);
    }

    [Fact]
    public async Task SwarmJoin_TheDaemonsRefusals_AndAMissingToken_AreErrors()
    {
        _node.Inactive();

        var badToken = await _cli.RunAsync("swarm", "join", "--token", "bad", "10.0.0.9:4242");
        var noToken = await _cli.RunAsync("swarm", "join", "10.0.0.9:4242");

        Assert.Equal((1, "Error response from daemon: invalid join token\n"), (badToken.ExitCode, badToken.Error));
        Assert.Equal(1, noToken.ExitCode);
        Assert.Equal("Option '--token' is required.\nSee 'shoal swarm join --help'.\n", noToken.Error);
        Assert.Equal(["POST /v1.50/swarm/join"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task JoinToken_PrintsTheCommandThatJoinsAWorkerOrAManager()
    {
        var worker = await _cli.RunAsync("swarm", "join-token", "worker");
        var manager = await _cli.RunAsync("swarm", "join-token", "manager");

        Assert.Equal(
            (0, $"To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {WorkerToken} 127.0.0.1:4242\n\n"),
            (worker.ExitCode, worker.Out));
        Assert.Equal(
            (0, $"To add a manager to this swarm, run the following command:\n\n    shoal swarm join --token {ManagerToken} 127.0.0.1:4242\n\n"),
            (manager.ExitCode, manager.Out));
        Assert.Equal(
            ["GET /v1.50/swarm", "GET /v1.50/info", $"GET /v1.50/nodes/{_cli.Api.Plane.ManagerId}", "GET /v1.50/swarm"],
            _cli.Proxy.Lines.Take(4));
    }

    [Fact]
    public async Task JoinToken_Quiet_PrintsTheTokenOnly()
    {
        var run = await _cli.RunAsync("swarm", "join-token", "-q", "manager");

        Assert.Equal((0, ManagerToken + "\n"), (run.ExitCode, run.Out));
        Assert.Equal(["GET /v1.50/swarm"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task JoinToken_Rotate_ReplacesTheToken_AsDockerDoes()
    {
        var before = _cli.Api.Plane.Cluster;

        var run = await _cli.RunAsync("swarm", "join-token", "--rotate", "worker");

        var after = _cli.Api.Plane.Cluster;
        Assert.NotEqual(before.RootCa.JoinTokens.Worker, after.RootCa.JoinTokens.Worker);
        Assert.Equal(before.RootCa.JoinTokens.Manager, after.RootCa.JoinTokens.Manager);
        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith($"Successfully rotated worker join token.\n\nTo add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {after.RootCa.JoinTokens.Worker} ", run.Out, StringComparison.Ordinal);
        var update = _cli.Proxy.Requests[1];
        Assert.Equal($"POST /v1.50/swarm/update?rotateManagerToken=false&rotateManagerUnlockKey=false&rotateWorkerToken=true&version={before.Meta.Version}", update.Line);
        Assert.Equal(before.Spec.Annotations.Name, JsonDocument.Parse(update.Body).RootElement.GetProperty("Name").GetString());
    }

    [Fact]
    public async Task JoinToken_RotateQuietly_PrintsOnlyTheNewToken()
    {
        var before = ManagerToken;

        var run = await _cli.RunAsync("swarm", "join-token", "--rotate", "-q", "manager");

        Assert.NotEqual(before, ManagerToken);
        Assert.Equal((0, ManagerToken + "\n"), (run.ExitCode, run.Out));
    }

    [Fact]
    public async Task JoinToken_UnknownRole_IsRefusedBeforeAnyRequest()
    {
        var run = await _cli.RunAsync("swarm", "join-token", "boss");

        Assert.Equal((1, "unknown role boss (use worker or manager)\nSee 'shoal swarm join-token --help'.\n"), (run.ExitCode, run.Error));
        Assert.Empty(_cli.Proxy.Lines);
    }

    [Fact]
    public async Task SwarmLeave_AManagerNeedsForce()
    {
        var refused = await _cli.RunAsync("swarm", "leave");
        var forced = await _cli.RunAsync("swarm", "leave", "-f");

        Assert.Equal((1, $"Error response from daemon: {DockerApiException.LeaveManagerMessage}\n"), (refused.ExitCode, refused.Error));
        Assert.Equal((0, "Node left the swarm.\n"), (forced.ExitCode, forced.Out));
        Assert.Equal(["leave --force"], _cli.Api.Node.Calls);
        Assert.Equal(["POST /v1.50/swarm/leave", "POST /v1.50/swarm/leave?force=1"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task SwarmUpdate_ChangesOnlyTheSettingsGiven()
    {
        var before = await _cli.Api.GetOkAsync<Swarm>("/swarm", TestContext.Current.CancellationToken);

        var run = await _cli.RunAsync("swarm", "update", "--task-history-limit", "10", "--dispatcher-heartbeat", "1m30s");

        Assert.Equal((0, "Swarm updated.\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        var after = await _cli.Api.GetOkAsync<Swarm>("/swarm", TestContext.Current.CancellationToken);
        Assert.Equal(10, after.Spec.Orchestration.TaskHistoryRetentionLimit);
        Assert.Equal(90_000_000_000, after.Spec.Dispatcher.HeartbeatPeriod);
        Assert.Equal(before.Spec.CAConfig.NodeCertExpiry, after.Spec.CAConfig.NodeCertExpiry);
        Assert.Equal(before.JoinTokens.Worker, after.JoinTokens.Worker);
    }

    [Fact]
    public async Task SwarmUpdate_WithNothingToChange_SendsNothing()
    {
        var run = await _cli.RunAsync("swarm", "update");
        var malformed = await _cli.RunAsync("swarm", "update", "--dispatcher-heartbeat", "5");

        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("nothing to update: give at least one of --task-history-limit, ", run.Error, StringComparison.Ordinal);
        Assert.Equal(1, malformed.ExitCode);
        Assert.StartsWith("invalid argument \"5\" for \"--dispatcher-heartbeat\" flag: missing unit in duration \"5\"", malformed.Error, StringComparison.Ordinal);
        Assert.Empty(_cli.Proxy.Lines);
    }

    [Fact]
    public async Task SwarmInspect_PrintsTheSwarmAsIndentedJson()
    {
        var run = await _cli.RunAsync("swarm", "inspect");

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("{\n    \"", run.Out, StringComparison.Ordinal);
        Assert.Contains("\n    \"JoinTokens\": {\n        \"Worker\": ", run.Out, StringComparison.Ordinal);
        var swarm = JsonSerializer.Deserialize(run.Out, DockerJsonContext.Default.Swarm)!;
        Assert.Equal(_cli.Api.Plane.Cluster.Id, swarm.ID);
        Assert.Equal(WorkerToken, swarm.JoinTokens.Worker);
        Assert.Contains("-----BEGIN CERTIFICATE-----\n", swarm.TLSInfo.TrustRoot, StringComparison.Ordinal);
    }
}
