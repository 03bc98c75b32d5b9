using System.Diagnostics;
using System.Globalization;
using Shoal.DockerApi.Model;

namespace Shoal.Bench;

/// <summary>
/// The rolling-update scenario of the harness (<c>service-update</c>), on a swarm of real <c>shoal agent</c> processes
/// (<see cref="LocalSwarm"/>: 1 manager, drained, and 2 workers; heartbeat 1 s) whose tasks are host processes (the
/// process executor): a service of 10 <c>/bin/sleep 3600</c> tasks is updated (parallelism 2, delay 2 s, monitor 1 s)
/// in stop-first and start-first order, watched with <see cref="RolloutWatch"/> until <c>completed</c>; then, unless
/// turned off, two updates to a version whose health check always fails, one with the failure action pause and one
/// with rollback. Every run uses a fresh service, removed (its processes gone) before the next one; every agent and
/// task process is gone when the scenario returns, also after a failure.
/// </summary>
internal static class UpdateScenarios
{
    private const int Managers = 1;
    private const int Workers = 2;
    private const int Replicas = 10;
    private const int Parallelism = 2;

    /// <summary>The variable whose value is the version of the spec a task was made from (1 before the update, 2 after).</summary>
    private const string VersionVariable = "SHOAL_BENCH_VERSION";

    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Monitor = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan HealthInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Sampling = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    /// <summary>How long the paused service is watched after <c>paused</c>, to see that no further batch starts.</summary>
    private static readonly TimeSpan AfterPause = TimeSpan.FromSeconds(3);

    private static readonly string[] Orders = [UpdateOrders.StopFirst, UpdateOrders.StartFirst];

    /// <summary>
    /// <c>service-update</c>: per repetition and order, a fresh 10-replica service updated (its version variable
    /// changed, so every task is dirty): the wall time from the update call until <c>completed</c> is seen, the
    /// manager's own <c>StartedAt → CompletedAt</c>, the fewest and most tasks RUNNING at once, and where the time went
    /// (batches, the waits between them, the monitor window at the end), against the theoretical minimum
    /// (batches − 1) × delay + monitor. With <paramref name="failures"/>, the pause and rollback scenarios follow.
    /// </summary>
    public static async Task<int> ServiceUpdateAsync(int repetitions, bool failures, bool verbose)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        var swarm = await LocalSwarm.StartAsync(Managers, Workers, Heartbeat, new LocalSwarmOptions { KeepRoot = true, Log = verbose ? Console.Error.WriteLine : null });
        try
        {
            var leader = await swarm.WaitForLeaderAsync(Deadline);
            await ServiceScenarios.DrainManagersAsync(swarm, leader);
            var batches = (Replicas + Parallelism - 1) / Parallelism;
            var minimum = ((batches - 1) * Delay) + Monitor;
            Console.WriteLine($"load average at the start: {HostLoad.Averages(" / ")}");
            Console.WriteLine(
                $"{Managers} manager (drained) + {Workers} workers, heartbeat {Heartbeat.TotalSeconds:0} s, process executor; {Replicas} replicas of `/bin/sleep 3600` " +
                $"updated by changing {VersionVariable} 1 -> 2; parallelism {Parallelism}, delay {Delay.TotalSeconds:0} s, monitor {Monitor.TotalSeconds:0} s, failure action pause; " +
                $"GET /tasks + GET /services/{{id}} sampled every {Sampling.TotalMilliseconds:0} ms");
            Console.WriteLine($"theoretical minimum: {batches} batches -> ({batches} - 1) x {Delay.TotalSeconds:0} s delay + {Monitor.TotalSeconds:0} s monitor = {minimum.TotalMilliseconds:0} ms, plus {batches} x the time to replace a batch");
            Console.WriteLine("| order | rep | update call -> completed seen ms | recorded StartedAt -> CompletedAt ms | running min..max | samples | batch sizes | new task created -> old task of its slot SHUTDOWN median ms | new task created -> RUNNING median ms | batch created -> last RUNNING median ms | last RUNNING -> next batch created median ms | last RUNNING -> CompletedAt ms | at completed: running (new spec) |");
            Console.WriteLine("|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---|");
            var runs = Orders.ToDictionary(o => o, _ => new List<UpdateRun>(), StringComparer.Ordinal);
            for (var rep = 1; rep <= repetitions; rep++)
            {
                // The orders alternate, so a noisy minute on the machine does not fall on one order only.
                foreach (var order in Orders)
                {
                    var run = await UpdateOnceAsync(swarm, leader, $"upd{rep}{(order == UpdateOrders.StopFirst ? "s" : "f")}", order);
                    runs[order].Add(run);
                    var floor = order == UpdateOrders.StopFirst ? Replicas - Parallelism : Replicas;
                    if (run.Watch.MinRunning < floor)
                    {
                        Console.WriteLine($"BELOW THE FLOOR: {order} rep {rep} had {run.Watch.MinRunning} tasks RUNNING at one sample; a {order} update of {Replicas} replicas with parallelism {Parallelism} must keep {floor}");
                    }

                    Console.WriteLine(
                        $"| {order} | {rep} | {Ms(run.Wall)} | {Ms(run.Recorded)} | {run.Watch.MinRunning}..{run.Watch.MaxRunning} | {run.Watch.Samples} | {string.Join(",", run.BatchSizes)} " +
                        $"| {MedianOrDash(run.CreatedToOldStopped)} | {MedianOrDash(run.CreatedToRunning)} | {MedianOrDash(run.BatchTimes)} | {MedianOrDash(run.Gaps)} | {Ms(run.Tail)} | {run.RunningAtEnd} ({run.NewRunningAtEnd}) |");
                }
            }

            Console.WriteLine();
            Console.WriteLine($"| order | runs | update call -> completed seen, median ms (min–max) | ratio to the {minimum.TotalSeconds:0} s minimum | recorded, median ms | fewest running (all runs) | batch replaced, median ms | minimum + {batches} x batch replaced ms | wait between batches, median ms | monitor tail, median ms |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var (order, list) in runs)
            {
                var walls = list.Select(r => r.Wall.TotalMilliseconds).ToList();
                var recorded = list.Where(r => r.Recorded is not null).Select(r => r.Recorded!.Value.TotalMilliseconds).ToList();
                var median = ServiceScenarios.Median(walls);
                List<double> batchTimes = [.. list.SelectMany(r => r.BatchTimes)];
                var predicted = batchTimes.Count > 0 ? Ms(minimum.TotalMilliseconds + (batches * ServiceScenarios.Median(batchTimes))) : "-";
                Console.WriteLine(
                    $"| {order} | {list.Count} | {median:0} ({walls.Min():0}–{walls.Max():0}) | {median / minimum.TotalMilliseconds:0.00} | {(recorded.Count > 0 ? ServiceScenarios.Median(recorded).ToString("0", CultureInfo.InvariantCulture) : "-")} " +
                    $"| {list.Min(r => r.Watch.MinRunning)} | {MedianOrDash(batchTimes)} | {predicted} | {MedianOrDash([.. list.SelectMany(r => r.Gaps)])} | {ServiceScenarios.Median([.. list.Select(r => r.Tail.TotalMilliseconds)]):0} |");
            }

            if (failures)
            {
                Console.WriteLine();
                await PauseOnFailureAsync(swarm, leader);
                Console.WriteLine();
                await RollbackOnFailureAsync(swarm, leader);
            }

            Console.WriteLine($"load average at the end: {HostLoad.Averages(" / ")}");
            return 0;
        }
        finally
        {
            await ServiceScenarios.StopAsync(swarm);
        }
    }

    /// <summary>One update of a fresh service in <paramref name="order"/>, watched until <c>completed</c>, then the service removed.</summary>
    private static async Task<UpdateRun> UpdateOnceAsync(LocalSwarm swarm, SwarmNodeProcess leader, string name, string order)
    {
        var id = await leader.Api.CreateServiceAsync(Spec(name, order, FailureActions.Pause));
        await ServiceScenarios.WaitForRunningAsync(swarm, leader, id, name, Replicas);

        var ranAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var (started, _) = await UpdateAsync(leader, id, failing: false);
        var watch = await RolloutWatch.UntilAsync(
            leader.Api,
            id,
            [UpdateStates.Completed, UpdateStates.Paused, UpdateStates.RollbackStarted, UpdateStates.RollbackCompleted, UpdateStates.RollbackPaused],
            Sampling,
            Deadline,
            tasks => RecordRunning(tasks, ranAt));
        var wall = Stopwatch.GetElapsedTime(started);
        if (watch.Status.State != UpdateStates.Completed)
        {
            throw new InvalidOperationException(
                $"the {order} update of {name} ended {watch}, not completed; tasks: {ServiceTasks.Describe(swarm, watch.LastTasks)}");
        }

        var run = Analyse(order, wall, watch, ranAt);
        await RemoveAsync(swarm, leader, id, name);
        return run;
    }

    /// <summary>What one completed update's tasks say about where its time went.</summary>
    private static UpdateRun Analyse(string order, TimeSpan wall, RolloutObservation watch, Dictionary<string, DateTimeOffset> ranAt)
    {
        var fresh = watch.LastTasks.Where(IsNewVersion).ToList();
        DateTimeOffset? RanAt(SwarmTask task) =>
            ranAt.TryGetValue(task.ID, out var at) ? at : task.Status.State == TaskStates.Running ? task.Status.Timestamp : null;

        // A batch's tasks are created in one transaction, with the same creation time.
        var batches = fresh.Where(t => t.CreatedAt is not null)
            .GroupBy(t => t.CreatedAt!.Value)
            .OrderBy(g => g.Key)
            .Select(g => (Created: g.Key, Tasks: g.ToList(), LastRunning: g.Select(RanAt).Max()))
            .ToList();
        var createdToRunning = fresh.Where(t => t.CreatedAt is not null && RanAt(t) is not null)
            .Select(t => (RanAt(t)!.Value - t.CreatedAt!.Value).TotalMilliseconds)
            .ToList();
        var createdToOldStopped = new List<double>();
        foreach (var task in fresh.Where(t => t.CreatedAt is not null))
        {
            var stopped = watch.LastTasks
                .Where(o => o.Slot == task.Slot && !IsNewVersion(o) && o.Status.State == TaskStates.Shutdown && o.Status.Timestamp is not null)
                .Select(o => o.Status.Timestamp!.Value)
                .ToList();
            if (stopped.Count > 0)
            {
                createdToOldStopped.Add((stopped.Max() - task.CreatedAt!.Value).TotalMilliseconds);
            }
        }

        var batchTimes = batches.Where(b => b.LastRunning is not null).Select(b => (b.LastRunning!.Value - b.Created).TotalMilliseconds).ToList();
        var gaps = new List<double>();
        for (var i = 1; i < batches.Count; i++)
        {
            if (batches[i - 1].LastRunning is { } previous)
            {
                gaps.Add((batches[i].Created - previous).TotalMilliseconds);
            }
        }

        var tail = batches.Count > 0 && batches[^1].LastRunning is { } last && watch.Status.CompletedAt is { } completed ? completed - last : TimeSpan.Zero;
        var running = watch.LastTasks.Where(t => t.Status.State == TaskStates.Running).ToList();
        return new UpdateRun(
            order,
            wall,
            watch,
            [.. batches.Select(b => b.Tasks.Count)],
            createdToOldStopped,
            createdToRunning,
            batchTimes,
            gaps,
            tail,
            running.Count,
            running.Count(IsNewVersion));
    }

    /// <summary>
    /// Failure scenario (a): stop-first update to a version whose health check always fails, failure action pause:
    /// the time to <c>paused</c>, the fewest tasks running, the status message; then the service is watched for
    /// <see cref="AfterPause"/> more to see that the update holds (no further old task stopped).
    /// </summary>
    private static async Task PauseOnFailureAsync(LocalSwarm swarm, SwarmNodeProcess leader)
    {
        const string name = "updpause";
        var id = await leader.Api.CreateServiceAsync(Spec(name, UpdateOrders.StopFirst, FailureActions.Pause));
        await ServiceScenarios.WaitForRunningAsync(swarm, leader, id, name, Replicas);
        Console.WriteLine(
            $"failure scenario (a): stop-first update to a version with health check CMD-SHELL `exit 1` (interval {HealthInterval.TotalMilliseconds:0} ms, retries 1), failure action pause");
        var (started, at) = await UpdateAsync(leader, id, failing: true);
        var watch = await RolloutWatch.UntilAsync(
            leader.Api,
            id,
            [UpdateStates.Paused, UpdateStates.Completed, UpdateStates.RollbackStarted, UpdateStates.RollbackCompleted, UpdateStates.RollbackPaused],
            Sampling,
            Deadline);
        var wall = Stopwatch.GetElapsedTime(started);
        Console.WriteLine($"- status {watch.Status.State} seen {Ms(wall)} ms after the update call (the update's StartedAt {Offset(watch.Status.StartedAt, at)} ms after it); running {watch.MinRunning}..{watch.MaxRunning} over {watch.Samples} samples");
        Console.WriteLine($"- message: \"{watch.Status.Message}\"");
        Console.WriteLine($"- tasks at {watch.Status.State}: {Versions(watch.LastTasks)}");

        // The pause must hold: no old task stopped after it, the old ones still serving.
        var min = int.MaxValue;
        var max = 0;
        List<SwarmTask> tasks = [];
        var held = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(held) < AfterPause)
        {
            tasks = await leader.Api.TasksAsync(id);
            var oldRunning = tasks.Count(t => t.Status.State == TaskStates.Running && !IsNewVersion(t));
            min = Math.Min(min, oldRunning);
            max = Math.Max(max, oldRunning);
            await Task.Delay(Sampling);
        }

        var status = (await leader.Api.ServiceAsync(id)).UpdateStatus;
        Console.WriteLine($"- {AfterPause.TotalSeconds:0} s later: status {status?.State}; old-version tasks running {min}..{max}; tasks: {Versions(tasks)}");
        PrintTimeline(tasks, at);
        await RemoveAsync(swarm, leader, id, name);
    }

    /// <summary>
    /// Failure scenario (b): stop-first update to the failing version with failure action rollback (the rollback
    /// config: the same parallelism, delay, monitor and order): the time to <c>rollback_started</c> and to
    /// <c>rollback_completed</c>, the fewest tasks running, and whether every running task runs the old spec after.
    /// </summary>
    private static async Task RollbackOnFailureAsync(LocalSwarm swarm, SwarmNodeProcess leader)
    {
        const string name = "updrollback";
        var id = await leader.Api.CreateServiceAsync(Spec(name, UpdateOrders.StopFirst, FailureActions.Rollback));
        await ServiceScenarios.WaitForRunningAsync(swarm, leader, id, name, Replicas);
        Console.WriteLine(
            $"failure scenario (b): the same update with failure action rollback (rollback config: parallelism {Parallelism}, delay {Delay.TotalSeconds:0} s, monitor {Monitor.TotalSeconds:0} s, stop-first, failure action pause)");
        var (started, at) = await UpdateAsync(leader, id, failing: true);
        string[] finals = [UpdateStates.RollbackCompleted, UpdateStates.RollbackPaused, UpdateStates.Paused, UpdateStates.Completed];
        var first = await RolloutWatch.UntilAsync(leader.Api, id, [UpdateStates.RollbackStarted, .. finals], Sampling, Deadline);
        var end = first.Status.State == UpdateStates.RollbackStarted
            ? await RolloutWatch.UntilAsync(leader.Api, id, finals, Sampling, Deadline)
            : first;
        var wall = Stopwatch.GetElapsedTime(started);
        Console.WriteLine(
            $"- status {end.Status.State} seen {Ms(wall)} ms after the update call; the rollback's StartedAt {Offset(end.Status.StartedAt, at)} ms and CompletedAt {Offset(end.Status.CompletedAt, at)} ms after it " +
            $"(recorded rollback {Ms(end.Recorded)} ms); {(first == end ? $"{UpdateStates.RollbackStarted} never sampled" : $"{UpdateStates.RollbackStarted} seen {Ms(first.Elapsed)} ms into the watch")}");
        Console.WriteLine(
            $"- running {Math.Min(first.MinRunning, end.MinRunning)}..{Math.Max(first.MaxRunning, end.MaxRunning)} over the update and the rollback ({first.Samples + (first == end ? 0 : end.Samples)} samples); " +
            $"message at {first.Status.State}: \"{first.Status.Message}\"{(first == end ? string.Empty : $"; at {end.Status.State}: \"{end.Status.Message}\"")}");
        Console.WriteLine($"- tasks at {end.Status.State}: {Versions(end.LastTasks)}");

        var service = await leader.Api.ServiceAsync(id);
        var specVersion = service.Spec.TaskTemplate.ContainerSpec?.Env?.FirstOrDefault(e => e.StartsWith(VersionVariable + "=", StringComparison.Ordinal)) ?? "none";
        Console.WriteLine($"- service spec after: {specVersion}, health check {(service.Spec.TaskTemplate.ContainerSpec?.Healthcheck is null ? "none" : "present")}");
        var running = end.LastTasks.Where(t => t.Status.State == TaskStates.Running).ToList();
        if (running.Count < Replicas)
        {
            running = await ServiceScenarios.WaitForRunningAsync(swarm, leader, id, name, Replicas);
            Console.WriteLine($"- {Replicas} running again {Ms(Stopwatch.GetElapsedTime(started))} ms after the update call");
        }

        var stale = running.Where(t => IsNewVersion(t) || t.Spec.ContainerSpec?.Healthcheck is not null).ToList();
        Console.WriteLine(
            stale.Count == 0
                ? $"- all {running.Count} running tasks run the old spec ({VersionVariable}=1, no health check)"
                : $"- {stale.Count} of {running.Count} running tasks do NOT run the old spec: {string.Join(", ", stale.Select(t => $"slot {t.Slot} {t.ID}"))}");
        PrintTimeline(await leader.Api.TasksAsync(id), at);
        await RemoveAsync(swarm, leader, id, name);
    }

    /// <summary>
    /// The tasks of the slots the update touched (those with a version-2 task), oldest first, with their times in ms
    /// after the update call: created, and the last status.
    /// </summary>
    private static void PrintTimeline(IReadOnlyCollection<SwarmTask> tasks, DateTimeOffset at)
    {
        var touched = tasks.Where(IsNewVersion).Select(t => t.Slot).ToHashSet();
        foreach (var slot in tasks.Where(t => touched.Contains(t.Slot)).GroupBy(t => t.Slot).OrderBy(g => g.Key))
        {
            var lines = slot.OrderBy(t => t.CreatedAt).Select(t =>
                $"{(IsNewVersion(t) ? "v2" : "v1")} {t.ID[..Math.Min(6, t.ID.Length)]} created {Offset(t.CreatedAt, at)}, desired {t.DesiredState}, {t.Status.State} at {Offset(t.Status.Timestamp, at)}");
            Console.WriteLine($"  - slot {slot.Key}: {string.Join("; ", lines)}");
        }
    }

    /// <summary>The service: 10 sleeping tasks of version 1, updated and rolled back by <see cref="Config"/>.</summary>
    private static ServiceSpec Spec(string name, string order, string failureAction)
    {
        var spec = ServiceScenarios.SleepService(name, Replicas);
        spec.TaskTemplate.ContainerSpec!.Env = [$"{VersionVariable}=1"];
        spec.UpdateConfig = Config(order, failureAction);
        spec.RollbackConfig = Config(order, FailureActions.Pause);
        return spec;
    }

    private static UpdateConfig Config(string order, string failureAction) => new()
    {
        Parallelism = Parallelism,
        Delay = Nanoseconds(Delay),
        Monitor = Nanoseconds(Monitor),
        Order = order,
        FailureAction = failureAction,
    };

    /// <summary>
    /// Changes the service to version 2 (with an always failing health check when <paramref name="failing"/>) and
    /// returns the stopwatch timestamp and the clock time taken right before the update call.
    /// </summary>
    private static async Task<(long Started, DateTimeOffset At)> UpdateAsync(SwarmNodeProcess leader, string id, bool failing)
    {
        var service = await leader.Api.ServiceAsync(id);
        var container = service.Spec.TaskTemplate.ContainerSpec!;
        container.Env = [$"{VersionVariable}=2"];
        if (failing)
        {
            container.Healthcheck = new HealthConfig
            {
                Test = ["CMD-SHELL", "exit 1"],
                Interval = Nanoseconds(HealthInterval),
                Timeout = Nanoseconds(TimeSpan.FromSeconds(2)),
                Retries = 1,
            };
        }

        var at = DateTimeOffset.UtcNow;
        var started = Stopwatch.GetTimestamp();
        await leader.Api.UpdateServiceAsync(service.ID, service.Version.Index, service.Spec);
        return (started, at);
    }

    /// <summary>Removes the service and waits until the processes of all its tasks have ended.</summary>
    private static async Task RemoveAsync(LocalSwarm swarm, SwarmNodeProcess leader, string id, string name)
    {
        var tasks = await leader.Api.TasksAsync(id);
        var processes = TaskProcesses.Of(swarm, tasks);
        await leader.Api.RemoveServiceAsync(id);
        await ServiceScenarios.WaitForProcessesGoneAsync(swarm, processes, $"the task processes of {name} gone after its removal");
    }

    /// <summary>Keeps, per task, the status time of the first sample that shows it RUNNING.</summary>
    private static void RecordRunning(IReadOnlyList<SwarmTask> tasks, Dictionary<string, DateTimeOffset> ranAt)
    {
        foreach (var task in tasks)
        {
            if (task.Status.State == TaskStates.Running && task.Status.Timestamp is { } at)
            {
                ranAt.TryAdd(task.ID, at);
            }
        }
    }

    private static bool IsNewVersion(SwarmTask task) => task.Spec.ContainerSpec?.Env?.Contains($"{VersionVariable}=2") == true;

    /// <summary>"v1 running 8, v2 failed 2, …" with the first error of a version-2 task.</summary>
    private static string Versions(IReadOnlyCollection<SwarmTask> tasks)
    {
        var groups = tasks.GroupBy(t => (Version: IsNewVersion(t) ? "v2" : "v1", State: t.Status.State ?? "?"))
            .OrderBy(g => g.Key.Version, StringComparer.Ordinal)
            .ThenByDescending(g => g.Count())
            .Select(g => $"{g.Key.Version} {g.Key.State} {g.Count()}");
        var error = tasks.Where(IsNewVersion).FirstOrDefault(t => !string.IsNullOrEmpty(t.Status.Err)) is { } failed
            ? $"; a v2 task's error: \"{failed.Status.Err}\", message \"{failed.Status.Message}\""
            : string.Empty;
        return string.Join(", ", groups) + error;
    }

    private static long Nanoseconds(TimeSpan value) => value.Ticks * 100;

    private static string Ms(TimeSpan? value) => value is { } v ? v.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) : "-";

    private static string Ms(double value) => value.ToString("0", CultureInfo.InvariantCulture);

    private static string MedianOrDash(List<double> samples) => samples.Count > 0 ? Ms(ServiceScenarios.Median(samples)) : "-";

    /// <summary>Milliseconds from <paramref name="origin"/> to <paramref name="value"/> (one host, one clock), signed.</summary>
    private static string Offset(DateTimeOffset? value, DateTimeOffset origin) =>
        value is { } v ? (v - origin).TotalMilliseconds.ToString("+0;-0", CultureInfo.InvariantCulture) : "-";

    /// <summary>One completed update: what the watch saw and what the tasks' timestamps say.</summary>
    private sealed record UpdateRun(
        string Order,
        TimeSpan Wall,
        RolloutObservation Watch,
        List<int> BatchSizes,
        List<double> CreatedToOldStopped,
        List<double> CreatedToRunning,
        List<double> BatchTimes,
        List<double> Gaps,
        TimeSpan Tail,
        int RunningAtEnd,
        int NewRunningAtEnd)
    {
        public TimeSpan? Recorded => Watch.Recorded;
    }
}
