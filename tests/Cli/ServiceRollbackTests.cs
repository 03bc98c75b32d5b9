using System.Text.Json;
using Shoal.DockerApi.Model;
using Shoal.Store;
using Shoal.TestKit;
using Proto = Shoal.Api;

namespace Shoal.Cli.Tests;

/// <summary>
/// <c>shoal service rollback</c>, <c>service update</c>'s rollout flags and the progress display's update states,
/// against the real Docker API and control API (docker's requests, reference §3). No orchestrator runs behind the
/// control plane: tests write the tasks and update states the orchestrator would.
/// </summary>
public sealed class ServiceRollbackTests : IAsyncLifetime
{
    private CliHarness _cli = null!;

    public async ValueTask InitializeAsync() => _cli = await CliHarness.StartAsync();

    public async ValueTask DisposeAsync() => await _cli.DisposeAsync();

    private MemoryStore Store => _cli.Api.Plane.Store;

    [Fact]
    public async Task Rollback_Detached_SendsDockersRequests_AndThePreviousSpecComesBack()
    {
        var id = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox:1")).Out.TrimEnd('\n');
        await _cli.RunAsync("service", "update", "-d", "--image", "busybox:2", "web");
        var version = Store.View().Services.Get(id)!.Meta.Version;
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "rollback", "-d", "web");

        Assert.Equal((0, "web\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        Assert.Equal(["GET /v1.50/services/web?insertDefaults=false", $"POST /v1.50/services/{id}/update?rollback=previous&version={version}"], _cli.Proxy.Lines);

        // The body is the current spec (the daemon ignores it), as docker sends it.
        var body = JsonSerializer.Deserialize(_cli.Proxy.Requests[1].Body, DockerJsonContext.Default.ServiceSpec)!;
        Assert.Equal("busybox:2", body.TaskTemplate.ContainerSpec!.Image);
        var stored = Store.View().Services.Get(id)!;
        Assert.Equal("busybox:1", stored.Spec.Task.Container.Image);
        Assert.Equal(Proto.UpdateState.RollbackStarted, stored.UpdateStatus.State);
    }

    [Fact]
    public async Task Rollback_WithoutAPreviousSpec_IsTheDaemonsRefusal_AndAnUnknownServiceIsNamed()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");

        var fresh = await _cli.RunAsync("service", "rollback", "web");
        var unknown = await _cli.RunAsync("service", "rollback", "nosuch");

        Assert.Equal(1, fresh.ExitCode);
        Assert.Contains("does not have a previous spec", fresh.Error, StringComparison.Ordinal);
        Assert.Equal((1, "no such service: nosuch (see `shoal service ls`)\n"), (unknown.ExitCode, unknown.Error));
    }

    [Fact]
    public async Task Rollback_InTheForeground_SaysItIsRollingBack_ThenWaitsUntilTheOldTasksRun()
    {
        var id = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "1", "--update-monitor", "1ms", "busybox:1")).Out.TrimEnd('\n');
        await _cli.RunAsync("service", "update", "-d", "--image", "busybox:2", "web");
        _cli.Proxy.Clear();

        var rollingBack = _cli.RunAsync("service", "rollback", "web");
        await Eventually.TrueAsync(() => Store.View().Services.Get(id)!.Spec.Task.Container.Image == "busybox:1", "the rollback to be stored", cancellationToken: TestContext.Current.CancellationToken);
        var service = Store.View().Services.Get(id)!;
        await Store.CreateAsync(Objects.Task(service, slot: 1, nodeId: _cli.Api.Plane.ManagerId, state: Proto.TaskState.Running));

        var run = await rollingBack;

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        Assert.StartsWith("web\nrollback: manually requested rollback\n", run.Out, StringComparison.Ordinal);
        Assert.Contains("overall progress: rolling back update: 1 out of 1 tasks\n", run.Out, StringComparison.Ordinal);
        Assert.EndsWith("verify: Service web converged\n", run.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Proto.UpdateState.Paused, "service update paused: update paused due to failure or early termination of task x")]
    [InlineData(Proto.UpdateState.RollbackPaused, "service rollback paused: update paused due to failure or early termination of task x")]
    public async Task Update_ThatPauses_ExitsOne_WithTheServicesMessage(Proto.UpdateState state, string error)
    {
        var id = (await _cli.RunAsync("service", "create", "-d", "--name", "web", "--replicas", "1", "busybox:1")).Out.TrimEnd('\n');
        _cli.Proxy.Clear();

        var updating = _cli.RunAsync("service", "update", "--image", "busybox:2", "--update-failure-action", "pause", "web");
        // Once the update is stored (not merely sent), the orchestrator's pause is written over it.
        await Eventually.TrueAsync(() => Store.View().Services.Get(id)!.Spec.Task.Container.Image == "busybox:2", "the update to be stored", cancellationToken: TestContext.Current.CancellationToken);
        await Store.UpdateAsync(tx =>
        {
            var service = tx.Services.Get(id)!.Clone();
            service.UpdateStatus = new Proto.UpdateStatus { State = state, Message = "update paused due to failure or early termination of task x" };
            tx.Update(service);
        });

        var run = await updating;

        Assert.Equal((1, error + "\n"), (run.ExitCode, run.Error));
        Assert.StartsWith("web\n", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_RolloutAndHealthFlags_ReachTheDaemon_AsDockerSendsThem()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "--update-parallelism", "3", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "update", "-d", "--update-delay", "2s", "--update-max-failure-ratio", "0.2", "--rollback-order", "start-first",
            "--health-cmd", "test -f /ready", "--health-interval", "1s", "web");

        Assert.Equal((0, "web\n", string.Empty), (run.ExitCode, run.Out, run.Error));
        using var body = JsonDocument.Parse(_cli.Proxy.Requests[1].Body);
        var root = body.RootElement;
        Assert.Equal(
            """{"Parallelism":3,"Delay":2000000000,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0.2,"Order":"stop-first"}""",
            root.GetProperty("UpdateConfig").GetRawText());
        Assert.Equal("start-first", root.GetProperty("RollbackConfig").GetProperty("Order").GetString());
        Assert.Equal(
            """{"Test":["CMD-SHELL","test -f /ready"],"Interval":1000000000}""",
            root.GetProperty("TaskTemplate").GetProperty("ContainerSpec").GetProperty("Healthcheck").GetRawText());
    }

    [Fact]
    public async Task UpdateRollback_WithARolloutFlag_IsRefusedBeforeAnyRequest()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "busybox");
        _cli.Proxy.Clear();

        var run = await _cli.RunAsync("service", "update", "--rollback", "--update-delay", "1s", "web");

        Assert.Equal((1, "other flags may not be combined with --rollback\n"), (run.ExitCode, run.Error));
        Assert.Empty(_cli.Proxy.Lines);
    }

    [Fact]
    public async Task Update_ABadValue_IsRefusedNamingTheFlag_BeforeAnyRequest()
    {
        var run = await _cli.RunAsync("service", "update", "--update-max-failure-ratio", "2", "web");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("invalid argument \"2\" for \"--update-max-failure-ratio\" flag: the ratio must be between 0 and 1", run.Error, StringComparison.Ordinal);
        Assert.Empty(_cli.Proxy.Lines);
    }

    [Fact]
    public async Task InspectPretty_ShowsTheUpdateAndRollbackConfigs_AndTheHealthcheck_AsDockersTemplate()
    {
        await _cli.RunAsync("service", "create", "-d", "--name", "web", "--update-failure-action", "rollback", "--update-delay", "10s",
            "--rollback-max-failure-ratio", "0.5", "--health-cmd", "curl -f localhost", "--health-interval", "10s", "--health-retries", "3", "busybox");

        var run = await _cli.RunAsync("service", "inspect", "--pretty", "web");

        Assert.Equal((0, string.Empty), (run.ExitCode, run.Error));
        Assert.Contains(
            "UpdateConfig:\n Parallelism:\t1\n Delay:\t\t10s\n On failure:\trollback\n Monitoring Period: 5s\n Max failure ratio: 0\n Update order:      stop-first\n"
            + "RollbackConfig:\n Parallelism:\t1\n On failure:\tpause\n Monitoring Period: 5s\n Max failure ratio: 0.5\n Rollback order:    stop-first\n",
            run.Out,
            StringComparison.Ordinal);
        Assert.EndsWith(
            " Healthcheck:\n  Interval = 10s\n  Retries = 3\n  StartPeriod =\t0s\n  Timeout =\t0s\n  Tests:\n\t Test = CMD-SHELL\n\t Test = curl -f localhost \n",
            run.Out,
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rollback", "--detach")]
    [InlineData("update", "--update-max-failure-ratio")]
    [InlineData("update", "--rollback-failure-action")]
    [InlineData("update", "--health-start-interval")]
    [InlineData("update", "--no-healthcheck")]
    [InlineData("update", "--stop-grace-period")]
    [InlineData("create", "--rollback-monitor")]
    [InlineData("create", "--health-cmd")]
    public async Task Help_ListsTheFlags(string verb, string flag)
    {
        var run = await _cli.RunAsync("service", verb, "--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains(flag, run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServiceHelp_ListsRollback()
    {
        var run = await _cli.RunAsync("service", "--help");

        Assert.Contains("rollback", run.Out, StringComparison.Ordinal);
        Assert.Contains("Revert changes to a service's configuration", run.Out, StringComparison.Ordinal);
    }
}
