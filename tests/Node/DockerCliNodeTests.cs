using System.Text.Json;
using System.Text.RegularExpressions;
using Shoal.TestKit;

namespace Shoal.Node.Tests;

/// <summary>The real docker CLI (28.x) against real nodes: what an operator types to build a swarm works unchanged.</summary>
public sealed class DockerCliNodeTests : IAsyncDisposable
{
    private readonly NodeFixture _fixture = new();

    public ValueTask DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task TheDockerCli_InitsAndGrowsASwarm_PromotesAndDrainsANode()
    {
        Assert.SkipUnless(DockerCli.IsInstalled, $"the docker CLI is not installed at {DockerCli.Path}");
        var manager = await _fixture.StartNodeAsync("m1");
        var worker = await _fixture.StartNodeAsync("w1");

        var init = await DockerAsync(manager, "swarm", "init", "--advertise-addr", manager.Address, "--listen-addr", manager.Address);
        var managerId = Regex.Match(init, @"current node \((\w+)\) is now a manager").Groups[1].Value;
        Assert.Equal(manager.Running.NodeId, managerId);
        Assert.Matches($@"docker swarm join --token SWMTKN-1-\w+-\w+ {Regex.Escape(manager.Address)}", init);

        var token = (await DockerAsync(manager, "swarm", "join-token", "-q", "worker")).Trim();
        Assert.Equal(await manager.JoinTokenAsync(manager: false), token);
        // Without --listen-addr the docker CLI sends its default, 0.0.0.0:2377: the agent's own --listen-addr applies.
        var joined = await DockerAsync(worker, "swarm", "join", "--token", token, manager.Address);
        Assert.Contains("This node joined a swarm as a worker.", joined, StringComparison.Ordinal);

        await NodeFixture.WaitAsync(manager, n => n.Count == 2 && n.All(x => x.Status.State == "ready"), "both nodes READY");
        var table = (await DockerAsync(manager, "node", "ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, table.Length);
        Assert.Matches($@"^{managerId} \*\s+m1\s+Ready\s+Active\s+Leader\s+0\.1\.0$", table.Single(l => l.StartsWith(managerId, StringComparison.Ordinal)));
        Assert.True(Regex.IsMatch(table.Single(l => l.Contains(" w1 ", StringComparison.Ordinal)), @"\s+w1\s+Ready\s+Active\s+0\.1\.0$"), string.Join("\n", table));

        using (var self = JsonDocument.Parse(await DockerAsync(manager, "node", "inspect", "self")))
        {
            Assert.Equal(managerId, self.RootElement[0].GetProperty("ID").GetString());
            Assert.True(self.RootElement[0].GetProperty("ManagerStatus").GetProperty("Leader").GetBoolean());
        }

        await DockerAsync(manager, "node", "update", "--availability", "drain", "w1");
        using (var drained = JsonDocument.Parse(await DockerAsync(manager, "node", "inspect", "w1")))
        {
            Assert.Equal("drain", drained.RootElement[0].GetProperty("Spec").GetProperty("Availability").GetString());
        }

        var promoted = await DockerAsync(manager, "node", "promote", "w1");
        Assert.Contains("Node w1 promoted to a manager in the swarm.", promoted, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => worker.Running.Manager is not null, "w1 runs its manager part", TimeSpan.FromSeconds(30));
        var managers = await NodeFixture.WaitAsync(manager, n => n.Count(x => x.ManagerStatus?.Reachability == "reachable") == 2, "two reachable managers");
        Assert.Equal(worker.Address, managers.Single(n => n.Description.Hostname == "w1").ManagerStatus!.Addr);

        var info = await DockerAsync(worker, "info");
        Assert.Contains("Swarm: active", info, StringComparison.Ordinal);
        Assert.Contains("Is Manager: true", info, StringComparison.Ordinal);
        Assert.Contains("Managers: 2", info, StringComparison.Ordinal);
        Assert.Contains("Nodes: 2", info, StringComparison.Ordinal);

        var (exitCode, _, error) = await RunAsync(manager, "swarm", "init", "--advertise-addr", manager.Address);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("This node is already part of a swarm.", error, StringComparison.Ordinal);
    }

    private async Task<string> DockerAsync(TestNode node, params string[] arguments)
    {
        var (exitCode, output, error) = await RunAsync(node, arguments);
        Assert.True(exitCode == 0, $"docker {string.Join(' ', arguments)} against {node.Name} exited {exitCode}: {error}");
        return output;
    }

    private static Task<(int ExitCode, string Output, string Error)> RunAsync(TestNode node, params string[] arguments) =>
        DockerCli.RunAsync(node.Running.ApiSocketPath, Path.Combine(node.DataDirectory, "docker-config"), arguments, TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
}
