using System.Diagnostics;
using System.Text.RegularExpressions;
using Shoal.Bench;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Integration.Tests;

/// <summary>
/// Services on swarms of real <c>shoal agent</c> processes whose tasks are host processes (the process executor),
/// driven through the managers' local APIs and the real docker CLI: placement, logs, scaling, a worker's kill -9,
/// restarts of failed tasks, removal. Heartbeats are 1 s (the shortest the cluster spec accepts). Task processes
/// outlive a killed agent by design (their shim holds them), so the tests kill what is left themselves; when a test
/// fails, every node's log is in its output.
/// </summary>
public sealed partial class ServiceProcessTests : LocalSwarmTests
{
    [Fact]
    public async Task ReplicatedService_RunsSpreadOverTheNodes_Logs_Scales_ReplacesAKilledWorkersTasks_AndRemovalEndsItsProcesses()
    {
        var swarm = await StartAsync(managers: 1, workers: 2);
        var manager = swarm["m1"];
        var spec = new ServiceSpec
        {
            Name = "hello",
            TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "busybox", Command = ["/bin/sh", "-c", "echo started $SHOAL_TASK_SLOT; sleep 600"] } },
            Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = 4 } },
        };

        // Four tasks, on all three nodes (the scheduler puts each on the node with the fewest of the service).
        var started = Stopwatch.GetTimestamp();
        var id = await manager.Api.CreateServiceAsync(spec, Cancellation);
        var running = await WaitForRunningAsync(swarm, manager, id, 4, "4 tasks of hello running");
        Output?.WriteLine($"4 tasks running {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms after the create");
        Assert.Equal([1, 2, 3, 4], running.Select(t => t.Slot).Order());
        var perNode = running.GroupBy(t => t.NodeID!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(swarm.Nodes.Select(n => n.NodeId!).Order(StringComparer.Ordinal), perNode.Keys.Order(StringComparer.Ordinal));
        Assert.True(perNode.Values.Max() - perNode.Values.Min() <= 1, $"uneven spread: {ServiceTasks.Describe(swarm, running)}");
        var processes = TaskProcesses.Of(swarm, running);
        Assert.Equal(running.Select(t => t.ID).Order(StringComparer.Ordinal), processes.Select(p => p.TaskId).Order(StringComparer.Ordinal));
        Assert.All(processes, p => Assert.True(p.IsAlive(), $"{p} is not alive"));

        // Logs: each task's line, labelled with the details the docker CLI needs (node, service, task).
        List<ServiceLogLine> logs = [];
        await swarm.WaitForAsync(
            async ct => (logs = await manager.Api.ServiceLogsAsync(id, ct)).Count(l => l.Message.StartsWith("started", StringComparison.Ordinal)) >= 4,
            "the 4 \"started\" lines in GET /services/{id}/logs",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last lines: " + string.Join(" | ", logs.Select(l => l.Text)),
            Cancellation);
        foreach (var task in running)
        {
            var line = Assert.Single(logs, l => l.Details.GetValueOrDefault("com.docker.swarm.task.id") == task.ID);
            Assert.Equal($"started {task.Slot}", line.Message);
            Assert.Equal(1, line.Stream);
            Assert.Equal(id, line.Details["com.docker.swarm.service.id"]);
            Assert.Equal(task.NodeID, line.Details["com.docker.swarm.node.id"]);
        }

        // Scale up: two more slots, the four running tasks untouched.
        await manager.Api.ScaleServiceAsync(id, 6, Cancellation);
        running = await WaitForRunningAsync(swarm, manager, id, 6, "6 tasks of hello running after the scale");
        Assert.Equal([1, 2, 3, 4, 5, 6], running.Select(t => t.Slot).Order());
        Assert.Subset(running.Select(t => t.ID).ToHashSet(StringComparer.Ordinal), processes.Select(p => p.TaskId).ToHashSet(StringComparer.Ordinal));

        // kill -9 of a worker: once it is DOWN, its tasks are replaced on the other nodes, in the same slots.
        var victim = swarm.Nodes.Where(n => n.Name.StartsWith('w')).OrderByDescending(w => running.Count(t => t.NodeID == w.NodeId)).First();
        var lost = running.Where(t => t.NodeID == victim.NodeId).ToList();
        Assert.NotEmpty(lost);
        var killed = Stopwatch.GetTimestamp();
        await victim.KillAsync();
        List<SwarmTask> last = [];
        await swarm.WaitForAsync(
            async ct =>
            {
                last = await manager.Api.TasksAsync(id, TaskStates.Running, ct);
                var elsewhere = last.Where(t => t.Status.State == TaskStates.Running && t.NodeID != victim.NodeId).ToList();
                return elsewhere.Count == 6 && lost.All(l => elsewhere.Any(t => t.Slot == l.Slot && t.ID != l.ID));
            },
            $"the {lost.Count} tasks of {victim.Name} replaced on the other nodes, 6 running",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last seen: " + ServiceTasks.Describe(swarm, last),
            Cancellation);
        Output?.WriteLine($"{lost.Count} tasks of {victim.Name} replaced and running {Stopwatch.GetElapsedTime(killed).TotalMilliseconds:0} ms after its kill -9");
        Assert.Equal(NodeStates.Down, (await manager.Api.NodeAsync(victim.NodeId!, Cancellation)).Status.State);
        running = [.. last.Where(t => t.Status.State == TaskStates.Running)];
        Assert.Equal([1, 2, 3, 4, 5, 6], running.Select(t => t.Slot).Order());
        Assert.DoesNotContain(running, t => t.NodeID == victim.NodeId);

        // The killed agent's own task processes outlive it (their shims hold them, DESIGN §9): gone only when killed.
        var outlived = TaskProcesses.KillAll(victim.DataDirectory);
        Assert.True(outlived >= lost.Count, $"only {outlived} processes of {victim.Name}'s {lost.Count} tasks outlived its agent");

        // Removal: every task process on the live nodes ends.
        processes = TaskProcesses.Of(swarm, running);
        Assert.Equal(6, processes.Count);
        Assert.All(processes, p => Assert.True(p.IsAlive(), $"{p} is not alive before the removal"));
        await manager.Api.RemoveServiceAsync(id, Cancellation);
        await WaitForProcessesGoneAsync(swarm, processes, "every task process of hello gone after its removal");
        var refusal = await Assert.ThrowsAsync<SwarmApiException>(() => manager.Api.ServiceAsync(id, Cancellation));
        Assert.Equal(404, refusal.Status);
    }

    [Fact]
    public async Task TaskExitingNonZero_IsFailed_WithItsExitCode_AndRestartedInItsSlot()
    {
        var swarm = await StartAsync(managers: 1, workers: 0);
        var manager = swarm["m1"];
        var spec = new ServiceSpec
        {
            Name = "crash",
            TaskTemplate = new TaskSpec
            {
                ContainerSpec = new ContainerSpec { Image = "busybox", Command = ["/bin/sh", "-c", "echo failing; exit 3"] },
                RestartPolicy = new RestartPolicy { Condition = RestartConditions.OnFailure, Delay = 200_000_000 },
            },
            Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = 1 } },
        };

        var id = await manager.Api.CreateServiceAsync(spec, Cancellation);
        List<SwarmTask> tasks = [];
        SwarmTask? failed = null;
        SwarmTask? restarted = null;
        await swarm.WaitForAsync(
            async ct =>
            {
                tasks = await manager.Api.TasksAsync(id, cancellationToken: ct);
                failed = tasks.Where(t => t.Status.State == TaskStates.Failed).MinBy(t => t.CreatedAt);
                restarted = failed is null ? null : tasks.Where(t => t.Slot == failed.Slot && t.ID != failed.ID && t.CreatedAt >= failed.CreatedAt).MinBy(t => t.CreatedAt);
                return restarted is not null;
            },
            "a failed task of crash and its replacement in the same slot",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last seen: " + string.Join("; ", tasks.Select(t => $"slot {t.Slot} {t.ID} {t.Status.State} desired {t.DesiredState} err {t.Status.Err}")),
            Cancellation);

        Assert.NotNull(failed);
        Assert.NotNull(restarted);
        Output?.WriteLine($"failed: {failed.ID} \"{failed.Status.Err}\"; replacement {restarted.ID} {restarted.Status.State}");
        Assert.Equal(1, failed.Slot);
        Assert.Matches(ExitCodeThree(), failed.Status.Err ?? string.Empty);
        Assert.Equal(TaskStates.Shutdown, (await manager.Api.TaskAsync(failed.ID, Cancellation)).DesiredState);
        Assert.Contains(restarted.DesiredState, new[] { TaskStates.Ready, TaskStates.Running }); // READY during the restart delay

        // The replacement really runs the program again after the delay: it fails the same way.
        var replacement = restarted;
        await swarm.WaitForAsync(
            async ct => (replacement = await manager.Api.TaskAsync(restarted.ID, ct)).Status.State == TaskStates.Failed,
            $"the replacement {restarted.ID} started after the restart delay and failed in turn",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => $"last seen: {replacement.Status.State} desired {replacement.DesiredState} err {replacement.Status.Err}",
            Cancellation);
        Assert.Matches(ExitCodeThree(), replacement.Status.Err ?? string.Empty);
        await manager.Api.RemoveServiceAsync(id, Cancellation);
    }

    [Fact]
    public async Task DockerCli_ServiceCreateInTheForeground_Converges_ThenLsPsLogsRm()
    {
        Assert.SkipUnless(DockerCli.IsInstalled, $"the docker CLI is not installed at {DockerCli.Path}");
        var swarm = await StartAsync(managers: 1, workers: 1);
        var manager = swarm["m1"];
        var config = Path.Combine(swarm.Root, "docker-config");

        var started = Stopwatch.GetTimestamp();
        var create = await DockerAsync(manager, config, "service", "create", "--name", "web", "--replicas", "2", "busybox", "/bin/sleep", "600");
        Output?.WriteLine($"docker service create (foreground) took {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms:\n{create.Output}\n{create.Error}");
        Assert.True(create.ExitCode == 0, $"docker service create exited with {create.ExitCode}:\n{create.Output}\n{create.Error}");
        Assert.Contains("overall progress: 2 out of 2 tasks", create.Output + create.Error, StringComparison.Ordinal);
        Assert.Contains("converged", create.Output + create.Error, StringComparison.Ordinal);

        var ls = await DockerAsync(manager, config, "service", "ls");
        Assert.Equal(0, ls.ExitCode);
        Assert.Matches(@"(?m)^\S+\s+web\s+replicated\s+2/2\s+busybox", ls.Output);

        var ps = await DockerAsync(manager, config, "service", "ps", "web");
        Assert.True(ps.ExitCode == 0, ps.Error);
        var rows = ps.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, row => Assert.Matches(@"^\S+\s+web\.[12]\s+busybox\S*\s+(m1|w1)\s+Running\s+Running", row));

        var logs = await DockerAsync(manager, config, "service", "logs", "web");
        Assert.True(logs.ExitCode == 0, $"docker service logs exited with {logs.ExitCode}: {logs.Error}");

        var web = await manager.Api.ServiceAsync("web", Cancellation);
        var tasks = await manager.Api.TasksAsync(web.ID, TaskStates.Running, Cancellation);
        var processes = TaskProcesses.Of(swarm, tasks);
        Assert.Equal(2, processes.Count);
        var rm = await DockerAsync(manager, config, "service", "rm", "web");
        Assert.Equal(0, rm.ExitCode);
        Assert.Equal("web", rm.Output.Trim());
        await WaitForProcessesGoneAsync(swarm, processes, "both task processes of web gone after docker service rm");
        var after = await DockerAsync(manager, config, "service", "ls", "--quiet", "--filter", "name=web");
        Assert.Equal(0, after.ExitCode);
        Assert.Equal(string.Empty, after.Output.Trim());
    }

    [GeneratedRegex(@"\b3\b")]
    private static partial Regex ExitCodeThree();
}
