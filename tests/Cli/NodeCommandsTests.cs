using System.Text.Json;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.Cli.Tests;

/// <summary><c>shoal node …</c> against the real Docker API and control API: docker's requests, docker's output.</summary>
public sealed class NodeCommandsTests : IAsyncLifetime
{
    private const string NotAManager =
        "Error response from daemon: This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.\n";

    private CliHarness _cli = null!;

    private string ManagerId => _cli.Api.Plane.ManagerId;

    public async ValueTask InitializeAsync() => _cli = await CliHarness.StartAsync();

    public async ValueTask DisposeAsync() => await _cli.DisposeAsync();

    [Fact]
    public async Task NodeLs_ShowsEveryNode_WithTheSelfNodeStarred()
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1");

        var run = await _cli.RunAsync("node", "ls");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(string.Empty, run.Error);
        // Go's tabwriter as docker sets it: each column as wide as its widest cell plus 3, at least 10; the last as is.
        Assert.Equal(
            $"{"ID",-30}{"HOSTNAME",-12}{"STATUS",-10}{"AVAILABILITY",-15}{"MANAGER STATUS",-17}ENGINE VERSION\n"
            + $"{ManagerId + " *",-30}{"manager-1",-12}{"Ready",-10}{"Active",-15}{"Leader",-17}0.1.0\n"
            + $"{worker.Id + "  ",-30}{"worker-1",-12}{"Ready",-10}{"Active",-15}{"",-17}0.1.0\n",
            run.Out);
        Assert.Equal(["GET /v1.50/nodes", "GET /v1.50/info"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task NodeLs_CapitalizesStatusAvailabilityAndReachability()
    {
        var down = await _cli.Api.Plane.AddNodeAsync("worker-1", state: Proto.NodeState.Down);
        await _cli.Api.Plane.AddNodeAsync("manager-2", role: Proto.NodeRole.Manager);
        await _cli.Api.Plane.Store.UpdateAsync(tx =>
        {
            var node = tx.Nodes.Get(down.Id)!.Clone();
            node.Spec.Availability = Proto.NodeAvailability.Drain;
            tx.Update(node);
        });

        var run = await _cli.RunAsync("node", "ls");

        var rows = Rows(run.Out);
        Assert.Equal(["manager-1", "Ready", "Active", "Leader"], rows[1][1..5]);
        Assert.Equal(["manager-2", "Ready", "Active", "Reachable"], rows[2][1..5]);
        Assert.Equal(["worker-1", "Down", "Drain"], rows[3][1..4]);
    }

    [Fact]
    public async Task NodeLs_SortsByHostnameNaturally_AndQuietPrintsOnlyTheIds()
    {
        var ten = await _cli.Api.Plane.AddNodeAsync("worker-10");
        var two = await _cli.Api.Plane.AddNodeAsync("worker-2");

        var table = await _cli.RunAsync("node", "ls");
        _cli.Proxy.Clear();
        var quiet = await _cli.RunAsync("node", "ls", "-q");

        Assert.Equal(["manager-1", "worker-2", "worker-10"], Rows(table.Out).Skip(1).Select(row => row[1]));
        Assert.Equal($"{ManagerId}\n{two.Id}\n{ten.Id}\n", quiet.Out);
        Assert.Equal(["GET /v1.50/nodes"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task NodeLs_Filters_GoToTheNodeAsDockerFilters()
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1", labels: new Dictionary<string, string> { ["zone"] = "a" });
        await _cli.Api.Plane.AddNodeAsync("worker-2");

        var managers = await _cli.RunAsync("node", "ls", "-q", "--filter", "role=manager");
        var zoneA = await _cli.RunAsync("node", "ls", "-q", "-f", "node.label=zone=a", "-f", "Name=worker");

        Assert.Equal(ManagerId + "\n", managers.Out);
        Assert.Equal(worker.Id + "\n", zoneA.Out);
        Assert.Equal(
            ["""{"role":{"manager":true}}""", """{"name":{"worker":true},"node.label":{"zone=a":true}}"""],
            _cli.Proxy.Lines.Select(line => Uri.UnescapeDataString(line[(line.IndexOf("filters=", StringComparison.Ordinal) + "filters=".Length)..])));
    }

    [Fact]
    public async Task NodeLs_UnknownFilter_IsTheDaemonsError_AndAMalformedOneIsRefusedBeforeAnyRequest()
    {
        var unknown = await _cli.RunAsync("node", "ls", "-f", "color=blue");
        var malformed = await _cli.RunAsync("node", "ls", "-f", "role");

        Assert.Equal((1, string.Empty, "Error response from daemon: invalid filter 'color'\n"), (unknown.ExitCode, unknown.Out, unknown.Error));
        Assert.Equal(1, malformed.ExitCode);
        Assert.Equal("bad format of filter \"role\" (expected name=value)\nSee 'shoal node ls --help'.\n", malformed.Error);
        Assert.Single(_cli.Proxy.Lines);
    }

    [Fact]
    public async Task NodeLs_OnANodeThatIsNotAManager_PrintsTheDaemonsRefusal()
    {
        _cli.Api.Node.Control = null;
        _cli.Api.Node.Info = _cli.Api.Node.Info with { ControlAvailable = false };

        var run = await _cli.RunAsync("node", "ls");

        Assert.Equal((1, string.Empty, NotAManager), (run.ExitCode, run.Out, run.Error));
    }

    [Fact]
    public async Task NodeInspect_PrintsAnIndentedJsonArray_ThatReadsBackAsTheNodes()
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1", labels: new Dictionary<string, string> { ["zone"] = "a" });

        var run = await _cli.RunAsync("node", "inspect", "manager-1", worker.Id[..20]);

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("[\n    {\n        \"ID\": \"" + ManagerId + "\",\n", run.Out, StringComparison.Ordinal);
        Assert.EndsWith("}\n]\n", run.Out, StringComparison.Ordinal);
        var nodes = JsonSerializer.Deserialize(run.Out, DockerJsonContext.Default.ListNode)!;
        Assert.Equal([ManagerId, worker.Id], nodes.Select(n => n.ID));
        Assert.Equal("a", nodes[1].Spec.Labels["zone"]);
        Assert.Equal("127.0.0.1:4242", nodes[0].ManagerStatus!.Addr);
        Assert.Equal(["GET /v1.50/nodes/manager-1", $"GET /v1.50/nodes/{worker.Id[..20]}"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task NodeInspect_Self_IsTheNodeTheCliTalksTo()
    {
        var run = await _cli.RunAsync("node", "inspect", "self");

        Assert.Equal(ManagerId, Assert.Single(JsonSerializer.Deserialize(run.Out, DockerJsonContext.Default.ListNode)!).ID);
        Assert.Equal(["GET /v1.50/info", $"GET /v1.50/nodes/{ManagerId}"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task NodeInspect_UnknownNode_PrintsWhatWasFound_ThenTheDaemonsError()
    {
        var run = await _cli.RunAsync("node", "inspect", "nosuch", "manager-1");

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(ManagerId, Assert.Single(JsonSerializer.Deserialize(run.Out, DockerJsonContext.Default.ListNode)!).ID);
        Assert.Equal("Error response from daemon: node nosuch not found\n", run.Error);

        var nothing = await _cli.RunAsync("node", "inspect", "nosuch");
        Assert.Equal((1, "[]\n"), (nothing.ExitCode, nothing.Out));
    }

    [Fact]
    public async Task NodeInspect_Pretty_SummarizesTheNode_AsDockerDoes()
    {
        var run = await _cli.RunAsync("node", "inspect", "--pretty", "self");

        Assert.Equal(0, run.ExitCode);
        var lines = run.Out.Split('\n');
        Assert.Equal("ID:\t\t\t" + ManagerId, lines[0]);
        Assert.Equal("Hostname:              \tmanager-1", lines[1]);
        Assert.Matches(@"^Joined at:             \t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$", lines[2]);
        Assert.Equal(
            [
                "Status:",
                " State:\t\t\tReady",
                " Availability:         \tActive",
                " Address:\t\t127.0.0.1",
                "Manager Status:",
                " Address:\t\t127.0.0.1:4242",
                " Raft Status:\t\tReachable",
                " Leader:\t\tYes",
                "Platform:",
                " Operating System:\tlinux",
                " Architecture:\t\tx86_64",
                "Resources:",
                " CPUs:\t\t\t2",
                " Memory:\t\t4GiB",
                "Engine Version:\t\t0.1.0",
            ],
            lines[3..18]);
    }

    [Fact]
    public async Task NodeInspect_Pretty_ShowsNameAndLabels_AndAnErrorPrintsNothingElse()
    {
        await _cli.Api.Plane.AddNodeAsync("host-7", name: "worker-1", labels: new Dictionary<string, string> { ["zone"] = "a", ["ssd"] = string.Empty });

        var run = await _cli.RunAsync("node", "inspect", "--pretty", "worker-1");
        var failed = await _cli.RunAsync("node", "inspect", "--pretty", "worker-1", "nosuch");

        Assert.Contains("\nName:\t\t\tworker-1\nLabels:\n - ssd\n - zone=a\nHostname:              \thost-7\n", run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Manager Status:", run.Out, StringComparison.Ordinal);
        Assert.Equal((1, string.Empty, "Error response from daemon: node nosuch not found\n"), (failed.ExitCode, failed.Out, failed.Error));
    }

    [Fact]
    public async Task NodeUpdate_SetsAvailabilityAndLabels_WithTheVersionRead_AndEchoesTheArgument()
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1", labels: new Dictionary<string, string> { ["old"] = "x" });

        var run = await _cli.RunAsync("node", "update", "--availability", "drain", "--label-add", "zone=b", "--label-add", "ssd", "--label-rm", "old", "worker-1");

        Assert.Equal((0, "worker-1\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        var stored = _cli.Api.Plane.Node(worker.Id);
        Assert.Equal(Proto.NodeAvailability.Drain, stored.Spec.Availability);
        Assert.Equal(["ssd=", "zone=b"], stored.Spec.Annotations.Labels.Select(label => $"{label.Key}={label.Value}").Order(StringComparer.Ordinal));
        var requests = _cli.Proxy.Requests;
        Assert.Equal(["GET /v1.50/nodes/worker-1", $"POST /v1.50/nodes/{worker.Id}/update?version={worker.Meta.Version}"], requests.Select(r => r.Line));
        Assert.Equal("""{"Labels":{"zone":"b","ssd":""},"Role":"worker","Availability":"drain"}""", requests[1].Body);
    }

    [Fact]
    public async Task NodeUpdate_RemovingALabelTheNodeHasNot_FailsWithoutUpdating()
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1");

        var run = await _cli.RunAsync("node", "update", "--label-rm", "zone", "worker-1");

        Assert.Equal((1, string.Empty, "key zone doesn't exist in node's labels\n"), (run.ExitCode, run.Out, run.Error));
        Assert.Equal(worker.Meta.Version, _cli.Api.Plane.Node(worker.Id).Meta.Version);
        Assert.Equal(["GET /v1.50/nodes/worker-1"], _cli.Proxy.Lines);
    }

    [Theory]
    [InlineData("--availability", "bogus", "invalid availability \"bogus\", only active, pause and drain are supported")]
    [InlineData("--role", "boss", "invalid role \"boss\", only worker and manager are supported")]
    public async Task NodeUpdate_MalformedFlag_IsRefusedBeforeAnyRequest(string flag, string value, string message)
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1");

        var run = await _cli.RunAsync("node", "update", flag, value, "worker-1");

        Assert.Equal((1, string.Empty), (run.ExitCode, run.Out));
        Assert.Equal(message + "\nSee 'shoal node update --help'.\n", run.Error);
        Assert.Empty(_cli.Proxy.Lines);
        Assert.Equal(worker.Meta.Version, _cli.Api.Plane.Node(worker.Id).Meta.Version);
    }

    [Fact]
    public async Task NodeUpdate_UnknownNode_IsTheDaemonsError()
    {
        var run = await _cli.RunAsync("node", "update", "--availability", "pause", "nosuch");

        Assert.Equal((1, string.Empty, "Error response from daemon: node nosuch not found\n"), (run.ExitCode, run.Out, run.Error));
    }

    [Fact]
    public async Task NodePromote_SetsTheManagerRole_AndSaysSoOncePerNode()
    {
        var worker = await _cli.Api.Plane.AddNodeAsync("worker-1");

        var promoted = await _cli.RunAsync("node", "promote", "worker-1");
        var again = await _cli.RunAsync("node", "promote", "worker-1", "manager-1");

        Assert.Equal((0, "Node worker-1 promoted to a manager in the swarm.\n"), (promoted.ExitCode, promoted.Out));
        Assert.Equal(Proto.NodeRole.Manager, _cli.Api.Plane.Node(worker.Id).Spec.DesiredRole);
        Assert.Equal((0, $"Node {worker.Id} is already a manager.\nNode {ManagerId} is already a manager.\n"), (again.ExitCode, again.Out));
        Assert.Equal(
            ["GET /v1.50/nodes/worker-1", $"POST /v1.50/nodes/{worker.Id}/update?version={worker.Meta.Version}", "GET /v1.50/nodes/worker-1", "GET /v1.50/nodes/manager-1"],
            _cli.Proxy.Lines);
    }

    [Fact]
    public async Task NodeDemote_SetsTheWorkerRole_ButNeverForTheLastManager()
    {
        var last = await _cli.RunAsync("node", "demote", "manager-1");
        var second = await _cli.Api.Plane.AddNodeAsync("manager-2", role: Proto.NodeRole.Manager);

        var demoted = await _cli.RunAsync("node", "demote", "manager-2");
        var again = await _cli.RunAsync("node", "demote", "manager-2");

        Assert.Equal((1, string.Empty), (last.ExitCode, last.Out));
        Assert.StartsWith("Error response from daemon: ", last.Error, StringComparison.Ordinal);
        Assert.Contains("attempting to demote the last manager of the swarm", last.Error, StringComparison.Ordinal);
        Assert.Equal((0, "Manager manager-2 demoted in the swarm.\n"), (demoted.ExitCode, demoted.Out));
        Assert.Equal(Proto.NodeRole.Worker, _cli.Api.Plane.Node(second.Id).Spec.DesiredRole);
        Assert.Equal((0, $"Node {second.Id} is already a worker.\n"), (again.ExitCode, again.Out));
    }

    [Fact]
    public async Task NodeRm_ALiveNodeNeedsForce_AndEveryNodeIsTried()
    {
        var live = await _cli.Api.Plane.AddNodeAsync("worker-1");
        var other = await _cli.Api.Plane.AddNodeAsync("worker-2");

        var refused = await _cli.RunAsync("node", "rm", "worker-1");
        var forced = await _cli.RunAsync("node", "rm", "--force", "worker-1", "nosuch", "worker-2");

        Assert.Equal(
            (1, string.Empty, $"Error response from daemon: rpc error: code = FailedPrecondition desc = node {live.Id} is not down and can't be removed\n"),
            (refused.ExitCode, refused.Out, refused.Error));
        Assert.Equal((1, "worker-1\nworker-2\n", "Error response from daemon: node nosuch not found\n"), (forced.ExitCode, forced.Out, forced.Error));
        Assert.Null(_cli.Api.Plane.Store.View().Nodes.Get(live.Id));
        Assert.Null(_cli.Api.Plane.Store.View().Nodes.Get(other.Id));
        Assert.Equal(
            ["DELETE /v1.50/nodes/worker-1", "DELETE /v1.50/nodes/worker-1?force=1", "DELETE /v1.50/nodes/nosuch?force=1", "DELETE /v1.50/nodes/worker-2?force=1"],
            _cli.Proxy.Lines);
    }

    /// <summary>The cells of a table, split on runs of two or more spaces (no cell here holds two spaces).</summary>
    private static List<string[]> Rows(string table) =>
        [.. table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => System.Text.RegularExpressions.Regex.Split(line.TrimEnd(), " {2,}"))];
}
