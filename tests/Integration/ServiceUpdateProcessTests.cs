using System.Diagnostics;
using Shoal.Bench;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Integration.Tests;

/// <summary>
/// Rolling updates and rollbacks of services whose tasks are real host processes, on swarms of real <c>shoal agent</c>
/// processes: how many tasks run while an update replaces them (sampled through the manager's API as it goes), a new
/// version failing its health check (the update pauses, or rolls back, the old tasks serving all along), the docker
/// CLI's update and rollback reaching their final lines, and an update carried on by a new leader after a kill -9.
/// Durations go to the test output; the figures are in docs/BENCHMARKS.md.
/// </summary>
public sealed class ServiceUpdateProcessTests : LocalSwarmTests
{
    private static readonly TimeSpan Sampling = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan UpdateDeadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task TenReplicas_ParallelismTwo_StopFirstNeverRunsFewerThanEight_StartFirstNeverFewerThanTen()
    {
        var swarm = await StartAsync(managers: 1, workers: 2);
        var manager = swarm["m1"];
        var spec = SleepService("web", 10, "v1");
        spec.UpdateConfig = new UpdateConfig
        {
            Parallelism = 2,
            Delay = Nanoseconds(TimeSpan.FromSeconds(2)),
            Monitor = Nanoseconds(TimeSpan.FromSeconds(1)),
            FailureAction = FailureActions.Pause,
            Order = UpdateOrders.StopFirst,
        };
        var id = await manager.Api.CreateServiceAsync(spec, Cancellation);
        var before = await WaitForRunningAsync(swarm, manager, id, 10, "10 tasks of web running");
        var oldProcesses = TaskProcesses.Of(swarm, before);

        // Stop-first: each batch stops two old tasks before their replacements start, so 8 run at the least.
        var stopFirst = await UpdateAndWatchAsync(manager, id, spec => SetVersion(spec, "v2"), UpdateStates.Completed);
        Output?.WriteLine($"stop-first: {stopFirst}");
        Assert.True(stopFirst.MinRunning >= 8, $"stop-first ran only {stopFirst.MinRunning} tasks at one point (at least 8 expected): {stopFirst}");
        var after = await AssertAllRunAsync(swarm, manager, id, 10, "v2");
        await WaitForProcessesGoneAsync(swarm, oldProcesses, "the v1 processes ended");
        Assert.All(TaskProcesses.Of(swarm, after), p => Assert.True(p.IsAlive(), $"{p} of v2 is not alive"));

        // Start-first: each replacement runs before the old task is told to stop, so all 10 run throughout.
        oldProcesses = TaskProcesses.Of(swarm, after);
        var startFirst = await UpdateAndWatchAsync(
            manager,
            id,
            spec =>
            {
                SetVersion(spec, "v3");
                spec.UpdateConfig!.Order = UpdateOrders.StartFirst;
            },
            UpdateStates.Completed);
        Output?.WriteLine($"start-first: {startFirst}");
        Assert.True(startFirst.MinRunning >= 10, $"start-first ran only {startFirst.MinRunning} tasks at one point (10 expected throughout): {startFirst}");
        Assert.True(startFirst.MaxRunning > 10, $"start-first never ran a new task next to an old one: {startFirst}");
        after = await AssertAllRunAsync(swarm, manager, id, 10, "v3");
        await WaitForProcessesGoneAsync(swarm, oldProcesses, "the v2 processes ended");

        // Neither finished before its own minimum: 4 delays of 2 s between the 5 batches, then the 1 s monitor window.
        Assert.All(new[] { stopFirst, startFirst }, o => Assert.True(o.Recorded >= TimeSpan.FromSeconds(9), $"the update completed before its minimum of 9 s: {o}"));
    }

    [Fact]
    public async Task NewVersionFailingItsHealthCheck_PausesTheUpdate_TheOldTasksStillServing()
    {
        var (swarm, manager, id, old) = await StartApiAsync(FailureActions.Pause);
        var oldProcesses = TaskProcesses.Of(swarm, old);

        var paused = await UpdateAndWatchAsync(manager, id, spec => FailingHealthCheck(SetVersion(spec, "v2")), UpdateStates.Paused, UpdateStates.Completed);
        Output?.WriteLine($"failing health check, action pause: {paused}");
        Assert.Equal(UpdateStates.Paused, paused.Status.State);
        Assert.Contains("update paused due to failure or early termination of task", paused.Status.Message, StringComparison.Ordinal);
        Assert.Contains("unhealthy container", paused.Status.Message, StringComparison.Ordinal);
        Assert.True(paused.MinRunning >= 3, $"fewer than 3 of 4 tasks ran during the update: {paused}");

        // The failed slot's restarts keep failing (the restart policy's, as Docker does); the update stays paused and
        // the three other slots keep their v1 task, the same process, running all along.
        var failedSlot = Assert.Single(paused.LastTasks.Where(t => Version(t) == "v2").Select(t => t.Slot).Distinct());
        List<SwarmTask> tasks = [];
        await swarm.WaitForAsync(
            async ct => (tasks = await manager.Api.TasksAsync(id, cancellationToken: ct)).Count(t => t.Slot == failedSlot && Version(t) == "v2" && t.Status.State == TaskStates.Failed) >= 2,
            $"a restart of slot {failedSlot}'s v2 task failing its health check in turn",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last seen: " + ServiceTasks.Describe(swarm, tasks),
            Cancellation);
        var failed = tasks.First(t => t.Slot == failedSlot && Version(t) == "v2" && t.Status.State == TaskStates.Failed);
        Assert.Contains("dockerexec: unhealthy container", failed.Status.Err, StringComparison.Ordinal);
        var service = await manager.Api.ServiceAsync(id, Cancellation);
        Assert.Equal(UpdateStates.Paused, service.UpdateStatus?.State);
        Assert.DoesNotContain(tasks, t => t.Slot != failedSlot && Version(t) == "v2");
        var serving = tasks.Where(t => t.Status.State == TaskStates.Running && Version(t) == "v1").ToList();
        Assert.Equal(old.Where(t => t.Slot != failedSlot).Select(t => t.ID).Order(StringComparer.Ordinal), serving.Select(t => t.ID).Order(StringComparer.Ordinal));
        Assert.All(oldProcesses.Where(p => serving.Any(t => t.ID == p.TaskId)), p => Assert.True(p.IsAlive(), $"{p} of v1 is not alive"));
    }

    [Fact]
    public async Task NewVersionFailingItsHealthCheck_RollsBack_TheOldTasksStillServing()
    {
        var (swarm, manager, id, old) = await StartApiAsync(FailureActions.Rollback);
        var oldProcesses = TaskProcesses.Of(swarm, old);

        var rolledBack = await UpdateAndWatchAsync(manager, id, spec => FailingHealthCheck(SetVersion(spec, "v2")), UpdateStates.RollbackCompleted, UpdateStates.RollbackPaused, UpdateStates.Paused, UpdateStates.Completed);
        Output?.WriteLine($"failing health check, action rollback: {rolledBack}");
        Assert.Equal(UpdateStates.RollbackCompleted, rolledBack.Status.State);
        Assert.True(rolledBack.MinRunning >= 3, $"fewer than 3 of 4 tasks ran during the update and its rollback: {rolledBack}");

        // The spec is v1 again (v2 kept as the previous one); the slot that tried v2 runs v1 again, the other three
        // never stopped: the same processes.
        var service = await manager.Api.ServiceAsync(id, Cancellation);
        Assert.Equal("v1", Version(service.Spec.TaskTemplate));
        Assert.Equal("v2", Version(service.PreviousSpec!.TaskTemplate));
        Assert.Null(service.Spec.TaskTemplate.ContainerSpec?.Healthcheck);
        var running = await AssertAllRunAsync(swarm, manager, id, 4, "v1");
        var tried = rolledBack.LastTasks.Where(t => Version(t) == "v2").ToList();
        Assert.NotEmpty(tried);
        Assert.All(tried, t => Assert.True(t.DesiredState != TaskStates.Running, "a v2 task is still meant to run: " + ServiceTasks.Describe(swarm, rolledBack.LastTasks)));
        Assert.DoesNotContain(running, t => Version(t) == "v2");
        var untouched = old.Where(o => !tried.Any(t => t.Slot == o.Slot)).ToList();
        Assert.Equal(4 - tried.Select(t => t.Slot).Distinct().Count(), untouched.Count);
        Assert.Subset(running.Select(t => t.ID).ToHashSet(StringComparer.Ordinal), untouched.Select(t => t.ID).ToHashSet(StringComparer.Ordinal));
        Assert.All(oldProcesses.Where(p => untouched.Any(t => t.ID == p.TaskId)), p => Assert.True(p.IsAlive(), $"{p} of v1 is not alive"));
    }

    [Fact]
    public async Task DockerCli_ServiceUpdateImage_ThenRollback_ReachTheirFinalLines_AndAnUnhealthyUpdatePauses()
    {
        Assert.SkipUnless(DockerCli.IsInstalled, $"the docker CLI is not installed at {DockerCli.Path}");
        var swarm = await StartAsync(managers: 1, workers: 1);
        var manager = swarm["m1"];
        var config = Path.Combine(swarm.Root, "docker-config");
        var create = await DockerAsync(manager, config, "service", "create", "--detach", "--name", "web", "--replicas", "4",
            "--update-parallelism", "2", "--update-delay", "1s", "--update-monitor", "1s", "busybox:1.36", "/bin/sleep", "600");
        Assert.True(create.ExitCode == 0, $"docker service create exited with {create.ExitCode}: {create.Error}");
        await WaitForRunningAsync(swarm, manager, "web", 4, "4 tasks of web running");

        var started = Stopwatch.GetTimestamp();
        var update = await DockerAsync(manager, config, "service", "update", "--image", "busybox:1.37", "web");
        Output?.WriteLine($"docker service update --image took {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms:\n{update.Output}\n{update.Error}");
        Assert.True(update.ExitCode == 0, $"docker service update exited with {update.ExitCode}:\n{update.Output}\n{update.Error}");
        Assert.Contains("overall progress: 4 out of 4 tasks", update.Output + update.Error, StringComparison.Ordinal);
        Assert.Contains("verify: Service web converged", update.Output + update.Error, StringComparison.Ordinal);
        // The CLI's "converged" follows its own wait of the monitor window; the manager's COMPLETED follows the same
        // window from when the last task ran, so either may come first.
        var service = await manager.Api.ServiceAsync("web", Cancellation);
        var completed = await RolloutWatch.UntilAsync(manager.Api, service.ID, [UpdateStates.Completed, UpdateStates.Paused], Sampling, UpdateDeadline, cancellationToken: Cancellation);
        Assert.Equal(UpdateStates.Completed, completed.Status.State);
        await AssertAllRunAsync(swarm, manager, service.ID, 4, image: "busybox:1.37");

        started = Stopwatch.GetTimestamp();
        var rollback = await DockerAsync(manager, config, "service", "rollback", "web");
        Output?.WriteLine($"docker service rollback took {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms:\n{rollback.Output}\n{rollback.Error}");
        Assert.True(rollback.ExitCode == 0, $"docker service rollback exited with {rollback.ExitCode}:\n{rollback.Output}\n{rollback.Error}");
        Assert.Contains("rollback: manually requested rollback", rollback.Output + rollback.Error, StringComparison.Ordinal);
        Assert.Contains("verify: Service web converged", rollback.Output + rollback.Error, StringComparison.Ordinal);
        // The CLI verifies with the restored spec's monitor (1 s), the rollback with the rollback config's (5 s by default).
        completed = await RolloutWatch.UntilAsync(manager.Api, service.ID, [UpdateStates.RollbackCompleted, UpdateStates.RollbackPaused], Sampling, UpdateDeadline, cancellationToken: Cancellation);
        Assert.Equal(UpdateStates.RollbackCompleted, completed.Status.State);
        await AssertAllRunAsync(swarm, manager, service.ID, 4, image: "busybox:1.36");

        // A version whose health check fails: the CLI stops with the pause and its cause; `service ps` shows it.
        started = Stopwatch.GetTimestamp();
        var unhealthy = await DockerAsync(manager, config, "service", "update", "--health-cmd", "exit 1", "--health-interval", "200ms",
            "--health-retries", "1", "--update-parallelism", "1", "--update-monitor", "5s", "web");
        Output?.WriteLine($"docker service update (unhealthy) took {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms:\n{unhealthy.Output}\n{unhealthy.Error}");
        Assert.Equal(1, unhealthy.ExitCode);
        Assert.Contains("service update paused: update paused due to failure or early termination of task", unhealthy.Output + unhealthy.Error, StringComparison.Ordinal);
        Assert.Contains("unhealthy container", unhealthy.Output + unhealthy.Error, StringComparison.Ordinal);
        var ps = await DockerAsync(manager, config, "service", "ps", "--no-trunc", "web");
        Assert.True(ps.ExitCode == 0, ps.Error);
        Assert.Matches(@"task: non-zero exit \(\d+\): dockerexec: unhealthy container", ps.Output);
    }

    [Fact]
    public async Task RollingUpdate_KillNineOfTheLeaderMidway_TheNewLeaderCompletesIt()
    {
        var swarm = await StartAsync(managers: 3, workers: 2);
        var leader = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var spec = SleepService("web", 6, "v1");
        spec.TaskTemplate.Placement = new Placement { Constraints = ["node.role==worker"] };
        spec.UpdateConfig = new UpdateConfig { Parallelism = 1, Delay = Nanoseconds(TimeSpan.FromSeconds(1)), Monitor = Nanoseconds(TimeSpan.FromSeconds(1)) };
        var id = await leader.Api.CreateServiceAsync(spec, Cancellation);
        await WaitForRunningAsync(swarm, leader, id, 6, "6 tasks of web running on the workers");

        // Kill the leader once the update has replaced two slots (four to go).
        await leader.Api.UpdateServiceAsync(id, spec => SetVersion(spec, "v2"), Cancellation);
        List<SwarmTask> tasks = [];
        await swarm.WaitForAsync(
            async ct => (tasks = await leader.Api.TasksAsync(id, TaskStates.Running, ct)).Count(t => Version(t) == "v2" && t.Status.State == TaskStates.Running) >= 2,
            "two slots of web running v2",
            Deadline,
            TimeSpan.FromMilliseconds(50),
            () => "last seen: " + ServiceTasks.Describe(swarm, tasks),
            Cancellation);
        var killed = Stopwatch.GetTimestamp();
        await leader.KillAsync();
        var newLeader = await swarm.WaitForLeaderAsync(Deadline, except: leader, cancellationToken: Cancellation);
        Output?.WriteLine($"{newLeader.Name} leads {Stopwatch.GetElapsedTime(killed).TotalMilliseconds:0} ms after the kill -9 of {leader.Name}, " +
            $"{tasks.Count(t => Version(t) == "v2")} of 6 slots updated then");

        var observed = await RolloutWatch.UntilAsync(newLeader.Api, id, [UpdateStates.Completed, UpdateStates.Paused], Sampling, UpdateDeadline, cancellationToken: Cancellation);
        Output?.WriteLine($"after the failover: {observed}; completed {Stopwatch.GetElapsedTime(killed).TotalMilliseconds:0} ms after the kill");
        Assert.Equal(UpdateStates.Completed, observed.Status.State);
        Assert.True(observed.MinRunning >= 5, $"the update ran fewer than 5 of 6 tasks at one point after the failover: {observed}");
        await AssertAllRunAsync(swarm, newLeader, id, 6, "v2");
    }

    /// <summary>
    /// One manager and one worker running "api", 4 replicas of v1 whose update config (parallelism 1, monitor 5 s) has
    /// <paramref name="failureAction"/>, rolled back all at once (monitor 1 s), restarted 300 ms after a failure.
    /// </summary>
    private async Task<(LocalSwarm Swarm, SwarmNodeProcess Manager, string Id, List<SwarmTask> Running)> StartApiAsync(string failureAction)
    {
        var swarm = await StartAsync(managers: 1, workers: 1);
        var manager = swarm["m1"];
        var spec = SleepService("api", 4, "v1");
        spec.UpdateConfig = new UpdateConfig { Parallelism = 1, Delay = 0, Monitor = Nanoseconds(TimeSpan.FromSeconds(5)), FailureAction = failureAction };
        spec.RollbackConfig = new UpdateConfig { Parallelism = 0, Monitor = Nanoseconds(TimeSpan.FromSeconds(1)), FailureAction = FailureActions.Pause };
        spec.TaskTemplate.RestartPolicy = new RestartPolicy { Condition = RestartConditions.Any, Delay = Nanoseconds(TimeSpan.FromMilliseconds(300)) };
        var id = await manager.Api.CreateServiceAsync(spec, Cancellation);
        return (swarm, manager, id, await WaitForRunningAsync(swarm, manager, id, 4, "4 tasks of api running"));
    }

    private static ServiceSpec SleepService(string name, ulong replicas, string version) => new()
    {
        Name = name,
        TaskTemplate = new TaskSpec
        {
            ContainerSpec = new ContainerSpec
            {
                Image = "busybox",
                Command = ["/bin/sleep", "600"],
                Env = ["VERSION=" + version],
                StopGracePeriod = Nanoseconds(TimeSpan.FromSeconds(2)),
            },
        },
        Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = replicas } },
    };

    private static ServiceSpec SetVersion(ServiceSpec spec, string version)
    {
        spec.TaskTemplate.ContainerSpec!.Env = ["VERSION=" + version];
        return spec;
    }

    /// <summary>A health check that fails at once: the task never becomes healthy, and is unhealthy after one check.</summary>
    private static void FailingHealthCheck(ServiceSpec spec) => spec.TaskTemplate.ContainerSpec!.Healthcheck = new HealthConfig
    {
        Test = ["CMD-SHELL", "exit 1"],
        Interval = Nanoseconds(TimeSpan.FromMilliseconds(200)),
        Timeout = Nanoseconds(TimeSpan.FromSeconds(2)),
        Retries = 1,
    };

    private static string? Version(SwarmTask task) => Version(task.Spec);

    private static string? Version(TaskSpec? spec) =>
        spec?.ContainerSpec?.Env?.FirstOrDefault(e => e.StartsWith("VERSION=", StringComparison.Ordinal))?["VERSION=".Length..];

    private static long Nanoseconds(TimeSpan span) => span.Ticks * 100;

    /// <summary>Changes the service's spec and samples it until its update status is one of <paramref name="finalStates"/>.</summary>
    private static async Task<RolloutObservation> UpdateAndWatchAsync(SwarmNodeProcess manager, string id, Action<ServiceSpec> change, params string[] finalStates)
    {
        await manager.Api.UpdateServiceAsync(id, change, Cancellation);
        return await RolloutWatch.UntilAsync(manager.Api, id, finalStates, Sampling, UpdateDeadline, cancellationToken: Cancellation);
    }

    /// <summary>Asserts that exactly <paramref name="count"/> tasks of the service run, all of the version (or image) given,
    /// and none of another one is meant to run; returns them.</summary>
    private static async Task<List<SwarmTask>> AssertAllRunAsync(LocalSwarm swarm, SwarmNodeProcess manager, string id, int count, string? version = null, string? image = null)
    {
        var running = await WaitForRunningAsync(swarm, manager, id, count, $"{count} tasks of {id} running");
        var meant = await manager.Api.TasksAsync(id, TaskStates.Running, Cancellation);
        Assert.Equal(count, meant.Count);
        Assert.All(meant, t =>
        {
            Assert.Equal(TaskStates.Running, t.Status.State);
            if (version is not null)
            {
                Assert.Equal(version, Version(t));
            }

            if (image is not null)
            {
                Assert.StartsWith(image, t.Spec.ContainerSpec?.Image, StringComparison.Ordinal);
            }
        });
        Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), running.Select(t => t.Slot).Order());
        return running;
    }
}
