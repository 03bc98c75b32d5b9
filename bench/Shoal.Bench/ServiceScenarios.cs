using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Shoal.Agent.Executors.Process;
using Shoal.DockerApi.Model;

namespace Shoal.Bench;

/// <summary>
/// The service scenarios of the harness, on swarms of real <c>shoal agent</c> processes (<see cref="LocalSwarm"/>)
/// whose tasks are host processes (the process executor): how fast a replicated service comes up and scales, and how
/// fast the tasks of a killed worker run again elsewhere. The managers are drained, so every task runs on a worker.
/// Each scenario prints a table and a summary; every agent and every task process is gone when it returns, also after
/// a failure.
/// </summary>
internal static class ServiceScenarios
{
    private const int Managers = 3;
    private const int Workers = 5;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// <c>service-up</c>: 3 drained managers and 5 workers; per repetition, a service of <paramref name="replicas"/>
    /// <c>/bin/sleep 3600</c> tasks: from <c>POST /services/create</c> until all run, then from the scale to twice as
    /// many until those run, the spread over the workers, and from <c>DELETE /services/{id}</c> until every task
    /// process is gone.
    /// </summary>
    public static async Task<int> ServiceUpAsync(int replicas, int repetitions, bool verbose)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        var swarm = await StartAsync(TimeSpan.FromSeconds(5), verbose);
        try
        {
            var leader = await swarm.WaitForLeaderAsync(Deadline);
            await DrainManagersAsync(swarm, leader);
            var workers = WorkerNodes(swarm);
            Console.WriteLine($"{Managers} managers (drained) + {Workers} workers, process executor, `/bin/sleep 3600` tasks (image busybox recorded); GET /tasks polled every {Poll.TotalMilliseconds:0} ms");
            Console.WriteLine($"| rep | create -> {replicas} running ms | scale {replicas} -> {2 * replicas} running ms | tasks per worker ({string.Join(", ", workers.Select(w => w.Name))}) | remove -> processes gone ms |");
            Console.WriteLine("|---:|---:|---:|---|---:|");
            var ups = new List<double>();
            var scales = new List<double>();
            var removals = new List<double>();
            for (var rep = 1; rep <= repetitions; rep++)
            {
                var name = $"up{rep}";
                var started = Stopwatch.GetTimestamp();
                var id = await leader.Api.CreateServiceAsync(SleepService(name, replicas));
                await WaitForRunningAsync(swarm, leader, id, name, replicas);
                var up = Stopwatch.GetElapsedTime(started);

                started = Stopwatch.GetTimestamp();
                await leader.Api.ScaleServiceAsync(id, (ulong)(2 * replicas));
                var running = await WaitForRunningAsync(swarm, leader, id, name, 2 * replicas);
                var scale = Stopwatch.GetElapsedTime(started);
                var spread = workers.Select(w => running.Count(t => t.NodeID == w.NodeId)).ToList();

                var processes = TaskProcesses.Of(swarm, running);
                if (processes.Count != running.Count)
                {
                    Console.Error.WriteLine($"rep {rep}: only {processes.Count} of {running.Count} running tasks have a pid file; the removal is timed on those");
                }

                started = Stopwatch.GetTimestamp();
                await leader.Api.RemoveServiceAsync(id);
                await WaitForProcessesGoneAsync(swarm, processes, $"the {processes.Count} task processes of {name} gone after its removal");
                var removal = Stopwatch.GetElapsedTime(started);

                ups.Add(up.TotalMilliseconds);
                scales.Add(scale.TotalMilliseconds);
                removals.Add(removal.TotalMilliseconds);
                Console.WriteLine($"| {rep} | {up.TotalMilliseconds:0} | {scale.TotalMilliseconds:0} | {string.Join(", ", spread)} | {removal.TotalMilliseconds:0} |");
            }

            Console.WriteLine($"create -> {replicas} running: {Summary(ups)}");
            Console.WriteLine($"scale {replicas} -> {2 * replicas} running: {Summary(scales)}");
            Console.WriteLine($"remove -> every task process gone: {Summary(removals)}");
            return 0;
        }
        finally
        {
            await StopAsync(swarm);
        }
    }

    /// <summary>
    /// <c>service-reschedule</c>: for each heartbeat period, 3 drained managers and 5 workers; per repetition a
    /// service of <paramref name="tasks"/> tasks spread over the workers, then SIGKILL of one worker's agent (worker
    /// <c>w&lt;rep&gt;</c>, holding k of them): from the kill until the leader lists the worker DOWN, and until k
    /// replacements run on the other workers with the service at <paramref name="tasks"/> running again. The killed
    /// worker's own task processes outlive its agent (by design); they are killed, the service removed and the worker
    /// restarted before the next repetition. A replacement waits for the service's restart delay (5 s unless
    /// <paramref name="restartDelay"/> sets it) after the node is DOWN, as SwarmKit's do.
    /// </summary>
    public static async Task<int> ServiceRescheduleAsync(int tasks, IReadOnlyList<TimeSpan> heartbeats, int repetitions, TimeSpan? restartDelay, bool verbose)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tasks, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(repetitions, Workers);
        var rows = new List<string>();
        foreach (var heartbeat in heartbeats)
        {
            var swarm = await StartAsync(heartbeat, verbose);
            try
            {
                var leader = await swarm.WaitForLeaderAsync(Deadline);
                await DrainManagersAsync(swarm, leader);
                var workers = WorkerNodes(swarm);
                var delay = restartDelay is { } d ? $"{d.TotalSeconds:0.###} s" : "5 s (default)";
                Console.WriteLine($"heartbeat {heartbeat.TotalSeconds:0.#} s, {Managers} managers (drained) + {Workers} workers, a service of {tasks} `/bin/sleep 3600` tasks, restart delay {delay}; kill -9 of one worker's agent, times from the kill");
                Console.WriteLine("| rep | worker | its tasks (k) | worker DOWN ms | k replacements running, service at N again ms | of which after DOWN ms |");
                Console.WriteLine("|---:|---|---:|---:|---:|---:|");
                var downs = new List<double>();
                var replaced = new List<double>();
                for (var rep = 1; rep <= repetitions; rep++)
                {
                    var name = $"rs{rep}";
                    var spec = SleepService(name, tasks);
                    if (restartDelay is { } restart)
                    {
                        spec.TaskTemplate.RestartPolicy = new RestartPolicy { Delay = (long)(restart.TotalMilliseconds * 1_000_000) };
                    }

                    var id = await leader.Api.CreateServiceAsync(spec);
                    var before = await WaitForRunningAsync(swarm, leader, id, name, tasks);
                    var victim = workers[(rep - 1) % workers.Count];
                    var lost = before.Where(t => t.NodeID == victim.NodeId).Select(t => t.ID).ToHashSet(StringComparer.Ordinal);
                    var survivors = TaskProcesses.Of(swarm, before.Where(t => t.NodeID != victim.NodeId));

                    var killed = Stopwatch.GetTimestamp();
                    await victim.KillAsync();
                    TimeSpan? down = null;
                    var last = "nothing yet";
                    await swarm.WaitForAsync(
                        async ct =>
                        {
                            if (down is null && await TryAsync(() => leader.Api.NodeAsync(victim.NodeId!, ct)) is { Status.State: NodeStates.Down })
                            {
                                down = Stopwatch.GetElapsedTime(killed);
                            }

                            if (await TryAsync(() => leader.Api.TasksAsync(id, TaskStates.Running, ct)) is not { } current)
                            {
                                return false;
                            }

                            var elsewhere = current.Where(t => t.Status.State == TaskStates.Running && t.NodeID != victim.NodeId).ToList();
                            var replacements = elsewhere.Count(t => !before.Any(b => b.ID == t.ID));
                            last = $"{elsewhere.Count} of {tasks} running off {victim.Name}, {replacements} of {lost.Count} replacements; {ServiceTasks.Describe(swarm, current)}";
                            return down is not null && elsewhere.Count == tasks && replacements >= lost.Count;
                        },
                        $"{victim.Name} DOWN and {lost.Count} replacements of its tasks running elsewhere ({name} at {tasks} running)",
                        (4 * heartbeat) + Deadline,
                        Poll,
                        () => "last seen: " + last);
                    var all = Stopwatch.GetElapsedTime(killed);
                    downs.Add(down!.Value.TotalMilliseconds);
                    replaced.Add(all.TotalMilliseconds);
                    Console.WriteLine($"| {rep} | {victim.Name} | {lost.Count} | {down.Value.TotalMilliseconds:0} | {all.TotalMilliseconds:0} | {(all - down.Value).TotalMilliseconds:0} |");

                    // Back to five workers and no task process of this repetition left.
                    TaskProcesses.KillAll(victim.DataDirectory);
                    var running = await leader.Api.TasksAsync(id, TaskStates.Running);
                    var processes = TaskProcesses.Of(swarm, running.Where(t => t.NodeID != victim.NodeId)).Concat(survivors).Distinct().ToList();
                    await leader.Api.RemoveServiceAsync(id);
                    await WaitForProcessesGoneAsync(swarm, processes, $"the task processes of {name} gone after its removal");
                    await victim.StartAsync();
                    await swarm.WaitForNodesAsync(
                        list => list.Count == Managers + Workers && list.All(n => n.Status.State == NodeStates.Ready),
                        $"{victim.Name} READY again after its restart",
                        Deadline);
                }

                rows.Add($"| {heartbeat.TotalSeconds:0.#} s | {delay} | {repetitions} | {tasks} | {Median(downs):0} ({downs.Min():0}–{downs.Max():0}) | {Median(replaced):0} ({replaced.Min():0}–{replaced.Max():0}) |");
                Console.WriteLine($"heartbeat {heartbeat.TotalSeconds:0.#} s: worker DOWN {Summary(downs)}; replacements running {Summary(replaced)}");
            }
            finally
            {
                await StopAsync(swarm);
            }
        }

        Console.WriteLine("| heartbeat | restart delay | kills | service tasks | worker DOWN median ms (min–max) | replacements running median ms (min–max) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        rows.ForEach(Console.WriteLine);
        return 0;
    }

    /// <summary>A replicated service of <c>/bin/sleep 3600</c> tasks (image "busybox", recorded only).</summary>
    internal static ServiceSpec SleepService(string name, int replicas) => new()
    {
        Name = name,
        TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "busybox", Command = ["/bin/sleep", "3600"] } },
        Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = (ulong)replicas } },
    };

    private static async Task<LocalSwarm> StartAsync(TimeSpan heartbeat, bool verbose) =>
        await LocalSwarm.StartAsync(Managers, Workers, heartbeat, new LocalSwarmOptions { KeepRoot = true, Log = verbose ? Console.Error.WriteLine : null });

    /// <summary>Kills the agents, then whatever task processes outlived them, then deletes the swarm's directory.</summary>
    internal static async Task StopAsync(LocalSwarm swarm)
    {
        await swarm.DisposeAsync();
        var killed = TaskProcesses.KillAll(swarm.Root);
        if (killed > 0)
        {
            Console.Error.WriteLine($"killed {killed} task processes left under {swarm.Root}");
        }

        try
        {
            Directory.Delete(swarm.Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static List<SwarmNodeProcess> WorkerNodes(LocalSwarm swarm) => [.. swarm.Nodes.Where(n => n.Name.StartsWith('w'))];

    /// <summary>Sets every manager's availability to drain, and waits until the leader shows it.</summary>
    internal static async Task DrainManagersAsync(LocalSwarm swarm, SwarmNodeProcess leader)
    {
        var managers = swarm.Nodes.Where(n => n.Name.StartsWith('m')).ToList();
        foreach (var manager in managers)
        {
            await leader.Api.UpdateNodeAsync(manager.NodeId!, spec => spec.Availability = NodeAvailabilities.Drain);
        }

        await swarm.WaitForNodesAsync(
            list => managers.All(m => list.Single(n => n.ID == m.NodeId).Spec.Availability == NodeAvailabilities.Drain),
            "every manager drained",
            Deadline);
    }

    /// <summary>
    /// Polls <c>GET /tasks</c> (the service's tasks with desired state running) until <paramref name="count"/> of them
    /// run; returns them. A timeout names the service and the states last seen.
    /// </summary>
    internal static async Task<List<SwarmTask>> WaitForRunningAsync(LocalSwarm swarm, SwarmNodeProcess manager, string serviceId, string name, int count)
    {
        List<SwarmTask> last = [];
        await swarm.WaitForAsync(
            async ct =>
            {
                if (await TryAsync(() => manager.Api.TasksAsync(serviceId, TaskStates.Running, ct)) is not { } tasks)
                {
                    return false;
                }

                last = tasks;
                return tasks.Count(t => t.Status.State == TaskStates.Running) == count;
            },
            $"{count} tasks of service {name} RUNNING",
            Deadline,
            Poll,
            () => "last seen: " + ServiceTasks.Describe(swarm, last));
        return [.. last.Where(t => t.Status.State == TaskStates.Running)];
    }

    internal static async Task WaitForProcessesGoneAsync(LocalSwarm swarm, IReadOnlyList<TaskProcess> processes, string what)
    {
        List<TaskProcess> alive = [];
        await swarm.WaitForAsync(
            _ =>
            {
                alive = [.. processes.Where(p => p.IsAlive())];
                return Task.FromResult(alive.Count == 0);
            },
            what,
            Deadline,
            Poll,
            () => $"{alive.Count} still alive: {string.Join(", ", alive.Take(10))}");
    }

    /// <summary>The answer, or null when the node did not answer or refused (the next poll asks again).</summary>
    private static async Task<T?> TryAsync<T>(Func<Task<T>> call)
        where T : class
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException)
        {
            return null;
        }
    }

    internal static double Median(List<double> samples)
    {
        var sorted = samples.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Summary(List<double> samples) =>
        $"median {Median(samples):0} ms, min {samples.Min():0} ms, max {samples.Max():0} ms over {samples.Count}";
}

/// <summary>Task lists in words, for progress and timeout messages.</summary>
public static class ServiceTasks
{
    /// <summary>"running 97 (w1 20, w2 19, …), starting 3; first error: …" for a timeout message.</summary>
    public static string Describe(LocalSwarm swarm, IReadOnlyCollection<SwarmTask> tasks)
    {
        ArgumentNullException.ThrowIfNull(swarm);
        ArgumentNullException.ThrowIfNull(tasks);
        if (tasks.Count == 0)
        {
            return "no tasks";
        }

        var text = new StringBuilder();
        foreach (var state in tasks.GroupBy(t => t.Status.State ?? "?").OrderByDescending(g => g.Count()))
        {
            var nodes = state.GroupBy(t => t.NodeID is null ? "unassigned" : swarm.ByNodeId(t.NodeID)?.Name ?? t.NodeID)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key} {g.Count()}");
            text.Append(CultureInfo.InvariantCulture, $"{(text.Length > 0 ? ", " : string.Empty)}{state.Key} {state.Count()} ({string.Join(", ", nodes)})");
        }

        if (tasks.FirstOrDefault(t => !string.IsNullOrEmpty(t.Status.Err)) is { } failed)
        {
            text.Append(CultureInfo.InvariantCulture, $"; first error: {failed.Name ?? failed.ID}: {failed.Status.Err}");
        }

        return text.ToString();
    }
}

/// <summary>
/// A task's program as the process executor runs it: its process ID and start time, from the <c>pid</c> file the
/// shim writes in <c>&lt;data-dir&gt;/tasks/&lt;task-id&gt;/</c>; the start time tells a reused process ID apart.
/// The program leads its own process group.
/// </summary>
public sealed record TaskProcess(string TaskId, string Node, int Pid, ulong? StartTime)
{
    /// <summary>Whether this very process still runs (a zombie has ended).</summary>
    public bool IsAlive() => LeftoverTasks.IsAlive(Pid, StartTime);

    /// <inheritdoc/>
    public override string ToString() => $"{TaskId} on {Node}: pid {Pid}";
}

/// <summary>
/// Finds and kills the task processes of a <see cref="LocalSwarm"/> (process executor): they run in their own
/// sessions under a shim and outlive a killed agent by design, so the harness kills them itself.
/// </summary>
public static class TaskProcesses
{
    /// <summary>The processes of <paramref name="tasks"/> (from their nodes' task directories); tasks without a pid file are left out.</summary>
    public static List<TaskProcess> Of(LocalSwarm swarm, IEnumerable<SwarmTask> tasks)
    {
        ArgumentNullException.ThrowIfNull(swarm);
        ArgumentNullException.ThrowIfNull(tasks);
        var found = new List<TaskProcess>();
        foreach (var task in tasks)
        {
            if (task.NodeID is { } nodeId && swarm.ByNodeId(nodeId) is { } node && Read(node.DataDirectory, task.ID, node.Name) is { } process)
            {
                found.Add(process);
            }
        }

        return found;
    }

    /// <summary>The process of task <paramref name="taskId"/> under a node's data directory, or null without a (complete) pid file.</summary>
    public static TaskProcess? Read(string dataDirectory, string taskId, string node) =>
        LeftoverTasks.ProgramOf(Path.Combine(dataDirectory, "tasks", taskId)) is { } id ? new TaskProcess(taskId, node, id.Pid, id.StartTime) : null;

    /// <summary>SIGKILL to every task program and shim recorded under <paramref name="directory"/> (a node's data
    /// directory or a whole swarm's root); returns how many processes were signalled.</summary>
    public static int KillAll(string directory) => LeftoverTasks.KillAll(directory);
}
