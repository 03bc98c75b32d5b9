using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Shoal.TestKit;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Tests;

/// <summary>
/// The real docker CLI (28.2.2) driving services against the facade and the real control API. Tasks do not run here
/// (no orchestrator or agents): the tests check what the CLI sends and shows, and what the store holds.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class DockerCliServiceTests : IAsyncLifetime
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
    public async Task ServiceCreate_Detached_PrintsTheId_WarnsAboutTheDigest_AndStoresTheSpec()
    {
        var (exitCode, output, error) = await RunAsync("service", "create", "-d", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000");

        Assert.True(exitCode == 0, $"service create exited {exitCode}: {error}");
        var service = Assert.Single(_host.Plane.Store.View().Services.All());
        Assert.Equal(service.Id, output.Trim());
        Assert.Contains("image busybox:latest could not be accessed on a registry to record", error, StringComparison.Ordinal);
        Assert.Equal("web", service.Spec.Annotations.Name);
        Assert.Equal(3, service.Spec.Replicated.Replicas);
        Assert.Equal("busybox:latest", service.Spec.Task.Container.Image);
        Assert.Equal(["sleep", "1000"], service.Spec.Task.Container.Args);
    }

    [Fact]
    public async Task ServiceLs_ShowsModeReplicasAndImage()
    {
        await DockerAsync("service", "create", "-d", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000");
        await DockerAsync("service", "create", "-d", "--name", "agent", "--mode", "global", "--no-resolve-image", "alpine:3.20", "sleep", "1000");

        var lines = (await DockerAsync("service", "ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Matches(@"^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^\w{12}\s+agent\s+global\s+0/\d+\s+alpine:3\.20\s*$", lines[1]);
        Assert.Matches(@"^\w{12}\s+web\s+replicated\s+0/3\s+busybox:latest\s*$", lines[2]);
    }

    [Fact]
    public async Task ServiceInspect_PrintsTheServiceAsJson_AndPretty()
    {
        var id = (await DockerAsync("service", "create", "-d", "--name", "web", "--replicas", "3", "--env", "A=B", "--publish", "8080:80", "busybox", "sleep", "1000")).Trim();

        using var document = JsonDocument.Parse(await DockerAsync("service", "inspect", "web"));
        var service = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal(id, service.GetProperty("ID").GetString());
        var spec = service.GetProperty("Spec");
        Assert.Equal("web", spec.GetProperty("Name").GetString());
        Assert.Equal(3, spec.GetProperty("Mode").GetProperty("Replicated").GetProperty("Replicas").GetInt32());
        Assert.Equal("A=B", spec.GetProperty("TaskTemplate").GetProperty("ContainerSpec").GetProperty("Env")[0].GetString());
        Assert.Equal(8080, spec.GetProperty("EndpointSpec").GetProperty("Ports")[0].GetProperty("PublishedPort").GetInt32());

        var pretty = await DockerAsync("service", "inspect", "--pretty", "web");
        Assert.Contains("Name:\t\tweb", pretty, StringComparison.Ordinal);
        Assert.Contains("Replicas:\t3", pretty, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServicePs_ListsTheTasks_WithTheirNodeAndState()
    {
        var id = (await DockerAsync("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000")).Trim();
        var worker = _host.Plane.Store.View().Nodes.All().Single(n => n.Description.Hostname == "worker-1");
        var service = _host.Plane.Store.View().Services.Get(id)!;
        var running = Objects.Task(service, slot: 1, nodeId: worker.Id, state: Proto.TaskState.Running);
        running.Status.Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        var pending = Objects.Task(service, slot: 2, state: Proto.TaskState.Pending);
        pending.Status.Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        pending.Status.Err = "no suitable node (scheduling constraints not satisfied on 2 nodes)";
        await _host.Plane.Store.UpdateAsync(tx =>
        {
            tx.Create(running);
            tx.Create(pending);
        });

        var lines = (await DockerAsync("service", "ps", "--no-trunc", "web")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Matches(@"^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$", lines[0]);
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^{running.Id}\s+web\.1\s+busybox:latest\s+w1\s+Running\s+Running"));
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^{pending.Id}\s+web\.2\s+busybox:latest\s+Running\s+Pending .*""no suitable node \(scheduling constraints not satisfied on 2 nodes\)"""));
    }

    [Fact]
    public async Task ServiceScale_Update_Rollback_AndRm_ChangeTheStore()
    {
        var id = (await DockerAsync("service", "create", "-d", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000")).Trim();
        Proto.Service Stored() => _host.Plane.Store.View().Services.Get(id)!;

        Assert.Contains("web scaled to 5", await DockerAsync("service", "scale", "web=5", "-d"), StringComparison.Ordinal);
        Assert.Equal(5, Stored().Spec.Replicated.Replicas);

        Assert.Equal("web", (await DockerAsync("service", "update", "-d", "--env-add", "A=B", "web")).Trim());
        Assert.Equal(["A=B"], Stored().Spec.Task.Container.Env);
        Assert.Equal(5, Stored().Spec.Replicated.Replicas);
        Assert.Empty(Stored().PreviousSpec.Task.Container.Env);

        await DockerAsync("service", "rollback", "-d", "web");
        Assert.Empty(Stored().Spec.Task.Container.Env);
        Assert.Equal(Proto.UpdateState.RollbackStarted, Stored().UpdateStatus.State);

        Assert.Equal("web", (await DockerAsync("service", "rm", "web")).Trim());
        Assert.Empty(_host.Plane.Store.View().Services.All());
    }

    [Fact]
    public async Task ServiceErrors_ReadAsDockers()
    {
        var (inspectExit, inspectOutput, inspectError) = await RunAsync("service", "inspect", "nosuch");
        Assert.NotEqual(0, inspectExit);
        Assert.Equal("[]", inspectOutput.Trim());
        Assert.Contains("no such service: nosuch", inspectError, StringComparison.Ordinal);

        await DockerAsync("service", "create", "-d", "--name", "web", "--no-resolve-image", "busybox", "sleep", "1000");
        var (createExit, _, createError) = await RunAsync("service", "create", "-d", "--name", "web", "--no-resolve-image", "busybox", "sleep", "1000");
        Assert.NotEqual(0, createExit);
        Assert.Contains("Error response from daemon:", createError, StringComparison.Ordinal);
        Assert.Contains("web", createError, StringComparison.Ordinal);

        var (rmExit, _, rmError) = await RunAsync("service", "rm", "nosuch");
        Assert.NotEqual(0, rmExit);
        Assert.Contains("service nosuch not found", rmError, StringComparison.Ordinal);

        var (logsExit, _, logsError) = await RunAsync("service", "logs", "nosuch");
        Assert.NotEqual(0, logsExit);
        Assert.Contains("no such task or service: nosuch", logsError, StringComparison.Ordinal);
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
