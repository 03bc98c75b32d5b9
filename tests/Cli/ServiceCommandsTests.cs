using System.Text.Json;
using Shoal.DockerApi.Model;
using Shoal.Store;
using Shoal.TestKit;
using Proto = Shoal.Api;

namespace Shoal.Cli.Tests;

/// <summary>
/// <c>shoal service …</c> against the real Docker API and control API: docker's requests (reference §3), docker's
/// output. No orchestrator runs behind the control plane, so tests put the tasks they need in the store themselves.
/// </summary>
public sealed class ServiceCommandsTests : IAsyncLifetime
{
    private CliHarness _cli = null!;

    public async ValueTask InitializeAsync() => _cli = await CliHarness.StartAsync();

    public async ValueTask DisposeAsync() => await _cli.DisposeAsync();

    [Fact]
    public async Task Create_Detached_PrintsTheId_AndSendsDockersSpec()
    {
        var run = await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "3", "-e", "A=B", "busybox", "sleep", "1000");

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        var id = run.Out.TrimEnd('\n');
        Assert.Equal(25, id.Length);
        var request = Assert.Single(_cli.Proxy.Requests);
        Assert.Equal("POST /v1.50/services/create", request.Line);
        var spec = JsonSerializer.Deserialize(request.Body, DockerJsonContext.Default.ServiceSpec)!;
        Assert.Equal(("web", 3UL, "busybox"), (spec.Name, spec.Mode.Replicated!.Replicas!.Value, spec.TaskTemplate.ContainerSpec!.Image));
        Assert.Equal(["sleep", "1000"], spec.TaskTemplate.ContainerSpec.Args!);
        var stored = _cli.Api.Plane.Store.View().Services.Get(id)!;
        Assert.Equal("web", stored.Spec.Annotations.Name);
    }

    [Fact]
    public async Task Create_InTheForeground_PrintsTheId_ThenWaitsUntilTheTasksRun_PollingById()
    {
        var creating = _cli.RunAsync("service", "create", "--name", "web", "--replicas", "1", "--update-monitor", "1ms", "busybox", "sleep", "1000");
        var store = _cli.Api.Plane.Store;
        await Eventually.TrueAsync(() => !store.View().Services.All().IsEmpty, "the service to be created", cancellationToken: TestContext.Current.CancellationToken);
        var service = store.View().Services.All().Single();
        await store.CreateAsync(Objects.Task(service, slot: 1, nodeId: _cli.Api.Plane.ManagerId, state: Proto.TaskState.Running));

        var run = await creating;

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        Assert.StartsWith(service.Id + "\noverall progress: 0 out of 1 tasks\n", run.Out, StringComparison.Ordinal);
        Assert.EndsWith("1/1: running\noverall progress: 1 out of 1 tasks\nverify: Waiting 1 seconds to verify that tasks are stable...\nverify: Service " + service.Id + " converged\n", run.Out, StringComparison.Ordinal);
        Assert.Equal($"GET /v1.50/services/{service.Id}?insertDefaults=false", _cli.Proxy.Lines[1]);
    }

    [Fact]
    public async Task Create_NameTaken_IsTheDaemonsConflict()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");

        var again = await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");

        Assert.Equal(1, again.ExitCode);
        Assert.StartsWith("Error response from daemon: ", again.Error, StringComparison.Ordinal);
        Assert.Contains("web", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ls_ShowsTheServices_FromOneListWithStatus()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "2", "-p", "8080:80", "nginx:1.27");
        await _cli.RunAsync("service", "create", "-d", "--name", "agent", "--mode", "global", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "ls");

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        Assert.Equal(["GET /v1.50/services?status=true"], _cli.Proxy.Lines);
        var rows = Rows(run.Out);
        Assert.Equal(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows[0]);
        Assert.Equal(["agent", "global"], rows[1][1..3]);
        Assert.Equal(["web", "replicated", "0/2", "nginx:1.27"], rows[2][1..5]);
    }

    [Fact]
    public async Task Ls_QuietAndFiltered_PrintsOnlyTheIds_WithoutStatus()
    {
        var web = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox")).Out.TrimEnd('\n');
        await _cli.RunAsync("service", "create", "-d", "--name", "db", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "ls", "-q", "-f", "name=we");

        Assert.Equal(web + "\n", run.Out);
        Assert.Equal(["GET /v1.50/services?filters=" + Uri.EscapeDataString("""{"name":{"we":true}}""")], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task Inspect_PrintsAnIndentedArray_AndAnUnknownServiceAsDockerSaysIt()
    {
        var id = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox")).Out.TrimEnd('\n');
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "inspect", "web", "nosuch");

        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("[\n    {\n        \"ID\": \"" + id + "\",\n", run.Out, StringComparison.Ordinal);
        Assert.Equal(id, Assert.Single(JsonSerializer.Deserialize(run.Out, DockerJsonContext.Default.ListService)!).ID);
        Assert.Equal("no such service: nosuch\n", run.Error);
        Assert.Equal(["GET /v1.50/services/web?insertDefaults=true", "GET /v1.50/services/nosuch?insertDefaults=true"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task InspectPretty_SummarizesTheService()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "2", "-e", "A=B", "busybox", "sleep", "1000");

        var run = await _cli.RunAsync("service", "inspect", "--pretty", "web");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Name:\t\tweb\nService Mode:\tReplicated\n Replicas:\t2\n", run.Out, StringComparison.Ordinal);
        Assert.Contains("ContainerSpec:\n Image:\t\tbusybox\n Args:\t\tsleep 1000 \n Env:\t\tA=B \n", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScaleDetached_UpdatesTheReplicas_WithTheVersionRead()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "scale", "-d", "web=5");

        Assert.Equal((0, "web scaled to 5\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        Assert.Equal("GET /v1.50/services/web?insertDefaults=false", _cli.Proxy.Lines[0]);
        Assert.Matches(@"^POST /v1\.50/services/[0-9a-z]{25}/update\?version=\d+$", _cli.Proxy.Lines[1]);
        Assert.Equal(2, _cli.Proxy.Lines.Count);
        Assert.Equal(5UL, JsonSerializer.Deserialize(_cli.Proxy.Requests[1].Body, DockerJsonContext.Default.ServiceSpec)!.Mode.Replicated!.Replicas);
    }

    [Fact]
    public async Task Scale_GlobalService_AndAMalformedSpecifier_AreRefused()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "agent", "--mode", "global", "busybox");

        var global = await _cli.RunAsync("service", "scale", "-d", "agent=2");
        var malformed = await _cli.RunAsync("service", "scale", "agent");

        Assert.Equal((1, "agent: scale can only be used with replicated or replicated-job mode\n"), (global.ExitCode, global.Error));
        Assert.Equal(1, malformed.ExitCode);
        Assert.StartsWith("invalid scale specifier 'agent'", malformed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scale_WaitsForConvergence_ThenSaysSo()
    {
        var id = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "--update-monitor", "1ms", "busybox", "sleep", "1000")).Out.TrimEnd('\n');
        await _cli.RunAsync("service", "scale", "-d", "web=2");
        var service = _cli.Api.Plane.Store.View().Services.Get(id)!;
        await _cli.Api.Plane.Store.CreateAsync(
            Objects.Task(service, slot: 1, nodeId: _cli.Api.Plane.ManagerId, state: Proto.TaskState.Running),
            Objects.Task(service, slot: 2, nodeId: _cli.Api.Plane.ManagerId, state: Proto.TaskState.Running));
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "scale", "web=2");

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        Assert.Equal(
            "web scaled to 2\n"
            + "overall progress: 0 out of 2 tasks\n"
            + "1/2: running\n"
            + "2/2: running\n"
            + "overall progress: 2 out of 2 tasks\n"
            + "verify: Waiting 1 seconds to verify that tasks are stable...\n"
            + "verify: Service web converged\n",
            run.Out);
        var filters = Uri.EscapeDataString($$$"""{"_up-to-date":{"true":true},"service":{"{{{id}}}":true}}""");
        Assert.Equal(
            ["GET /v1.50/services/web?insertDefaults=false", "GET /v1.50/tasks?filters=" + filters, "GET /v1.50/nodes"],
            _cli.Proxy.Lines.Skip(2).Take(3));
        Assert.Equal("GET /v1.50/services/web?insertDefaults=false", _cli.Proxy.Lines[^1]);
    }

    [Fact]
    public async Task Watch_StoppedByCtrlC_LeavesTheServiceAlone_AndSaysHowToFollowIt()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox");
        _cli.Proxy.Clear();
        using var output = new StringWriter();
        using var error = new StringWriter();
        var environment = new CliEnvironment { Out = output, Error = error };
        using var client = new Shoal.Cli.LocalApi.LocalApiClient(_cli.Host);
        using var interrupt = new CancellationTokenSource();

        var watching = Shoal.Cli.Output.ServiceProgress.WatchAsync(client, "web", environment, quiet: false, TimeProvider.System, interrupt.Token);
        await Eventually.TrueAsync(() => _cli.Proxy.Lines.Contains("GET /v1.50/nodes"), "the first poll to reach GET /nodes", cancellationToken: TestContext.Current.CancellationToken);
        await interrupt.CancelAsync();
        var exitCode = await watching;

        Assert.Equal(0, exitCode);
        Assert.EndsWith("Operation continuing in background.\nUse `shoal service ps web` to check progress.\n", output.ToString(), StringComparison.Ordinal);
        Assert.Single(_cli.Api.Plane.Store.View().Services.All());
    }

    [Fact]
    public async Task UpdateDetached_ChangesImageEnvLabelsConstraints_AndEchoesTheName()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "-e", "A=1", "-e", "B=2", "-l", "old=x", "--constraint", "node.role==worker", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "update", "-d", "--image", "busybox:1.37", "--env-add", "A=3", "--env-rm", "B",
            "--label-add", "new=y", "--label-rm", "old", "--constraint-rm", "node.role==worker", "--constraint-add", "node.labels.zone==a",
            "--args", "sh -c 'echo hi'", "--force", "web");

        Assert.Equal((0, "web\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        Assert.Matches(@"^POST /v1\.50/services/[0-9a-z]{25}/update\?registryAuthFrom=spec&version=\d+$", _cli.Proxy.Lines[1]);
        var spec = JsonSerializer.Deserialize(_cli.Proxy.Requests[1].Body, DockerJsonContext.Default.ServiceSpec)!;
        var container = spec.TaskTemplate.ContainerSpec!;
        Assert.Equal("busybox:1.37", container.Image);
        Assert.Equal(["A=3"], container.Env!);
        Assert.Equal(["sh", "-c", "echo hi"], container.Args!);
        Assert.Equal(new Dictionary<string, string> { ["new"] = "y" }, spec.Labels);
        Assert.Equal(["node.labels.zone==a"], spec.TaskTemplate.Placement!.Constraints!);
        Assert.Equal(1UL, spec.TaskTemplate.ForceUpdate);
    }

    [Fact]
    public async Task UpdateRollback_AloneOnly_AndWithoutAPreviousSpecTheDaemonSaysSo()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");

        var combined = await _cli.RunAsync("service", "update", "--rollback", "--image", "x", "web");
        _cli.Proxy.Clear();
        var rollback = await _cli.RunAsync("service", "update", "-d", "--rollback", "web");

        Assert.Equal((1, "other flags may not be combined with --rollback\n"), (combined.ExitCode, combined.Error));
        Assert.Equal(1, rollback.ExitCode);
        Assert.Contains("previous spec", rollback.Error, StringComparison.Ordinal);
        Assert.Matches(@"^POST /v1\.50/services/[0-9a-z]{25}/update\?registryAuthFrom=previous-spec&rollback=previous&version=\d+$", _cli.Proxy.Lines[1]);
    }

    [Fact]
    public async Task Update_UnknownService_NamesIt()
    {
        var run = await _cli.RunAsync("service", "update", "-d", "--image", "x", "nosuch");

        Assert.Equal((1, "no such service: nosuch (see `shoal service ls`)\n"), (run.ExitCode, run.Error));
    }

    [Fact]
    public async Task Ps_ListsTheTasks_WithHistoryRows_AndResolvesNodeNames()
    {
        var id = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "2", "busybox")).Out.TrimEnd('\n');
        var service = _cli.Api.Plane.Store.View().Services.Get(id)!;
        var failed = Objects.Task(service, slot: 1, nodeId: _cli.Api.Plane.ManagerId, state: Proto.TaskState.Failed, desired: Proto.TaskState.Shutdown);
        failed.Status.Err = "task: non-zero exit (1)";
        var current = Objects.Task(service, slot: 1, nodeId: _cli.Api.Plane.ManagerId, state: Proto.TaskState.Running);
        // Two writes: the replacement is created after the task it replaces (the store stamps CreatedAt).
        await _cli.Api.Plane.Store.CreateAsync(failed);
        await _cli.Api.Plane.Store.CreateAsync(current);
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "ps", "web");

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        var rows = Rows(run.Out);
        Assert.Equal(["ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS"], rows[0]);
        Assert.Equal([current.Id[..12], "web.1", "busybox", "manager-1", "Running", "Running"], rows[1][..6]);
        Assert.Equal([failed.Id[..12], @"\_", "web.1", "busybox", "manager-1", "Shutdown", "Failed"], rows[2][..7]);
        Assert.Equal(
            [
                "GET /v1.50/services?filters=" + Uri.EscapeDataString("""{"id":{"web":true}}"""),
                "GET /v1.50/services?filters=" + Uri.EscapeDataString("""{"name":{"web":true}}"""),
                "GET /v1.50/tasks?filters=" + Uri.EscapeDataString($$$"""{"service":{"{{{id}}}":true}}"""),
                $"GET /v1.50/services/{id}?insertDefaults=false",
                $"GET /v1.50/nodes/{_cli.Api.Plane.ManagerId}",
            ],
            _cli.Proxy.Lines);
    }

    [Fact]
    public async Task Ps_UnknownService_IsNamed()
    {
        var run = await _cli.RunAsync("service", "ps", "nosuch");

        Assert.Equal((1, string.Empty, "no such service: nosuch\n"), (run.ExitCode, run.Out, run.Error));
    }

    [Fact]
    public async Task Rm_RemovesEachService_EchoesIt_AndReportsTheUnknownOnes()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "rm", "web", "nosuch");

        Assert.Equal((1, "web\n", "no such service: nosuch\n"), (run.ExitCode, run.Out, run.Error));
        Assert.Equal(["DELETE /v1.50/services/web", "DELETE /v1.50/services/nosuch"], _cli.Proxy.Lines);
        Assert.Empty(_cli.Api.Plane.Store.View().Services.All());
    }

    [Fact]
    public async Task Logs_OfAService_AsksForDetailsAndEveryLine_AndPrintsTheDaemonsRefusal()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "logs", "web");

        // The control plane of this harness has no log broker: its refusal is the daemon's error, printed as such.
        Assert.Equal(string.Empty, run.Out);
        Assert.StartsWith("Error response from daemon: ", run.Error, StringComparison.Ordinal);
        Assert.Equal(["GET /v1.50/services/web?insertDefaults=false", "GET /v1.50/services/web/logs?details=1&stderr=1&stdout=1&tail=all"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task Logs_UnknownServiceOrTask_IsNamedAfterBothLookups()
    {
        var run = await _cli.RunAsync("service", "logs", "nosuch");

        Assert.Equal((1, "no such task or service: nosuch (see `shoal service ls`)\n"), (run.ExitCode, run.Error));
        Assert.Equal(["GET /v1.50/services/nosuch?insertDefaults=false", "GET /v1.50/tasks/nosuch"], _cli.Proxy.Lines);
    }

    [Fact]
    public async Task Help_ExplainsEachVerb()
    {
        var run = await _cli.RunAsync("service", "create", "--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--restart-condition", run.Out, StringComparison.Ordinal);
        Assert.Contains("Shoal's process executor records IMAGE", run.Out, StringComparison.Ordinal);
    }

    private static List<string[]> Rows(string table) =>
        [.. table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
}
