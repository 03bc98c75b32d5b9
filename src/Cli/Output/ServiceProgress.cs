using Shoal.Cli.LocalApi;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Output;

/// <summary>
/// The foreground wait of <c>service create/update/scale</c>: every 200 ms, as docker polls, it reads the service,
/// its up-to-date tasks and the nodes (<c>GET /services/{ref}</c>, <c>GET /tasks?filters={"_up-to-date":…}</c>,
/// <c>GET /nodes</c>), hands them to <see cref="ServiceConvergence"/> and shows what it answers. Ctrl-C stops the
/// watching, not the service.
/// </summary>
internal static class ServiceProgress
{
    /// <summary>How often the service is polled (docker's interval).</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Watches <paramref name="reference"/> until it converges; returns the exit code (0 converged or stopped
    /// watching, 1 when the update paused — the reason on standard error).
    /// </summary>
    /// <param name="client">The node's local API.</param>
    /// <param name="reference">The service as the operator named it (polled by that name, as docker does).</param>
    /// <param name="environment">Where the display goes.</param>
    /// <param name="quiet">Whether to wait without showing anything (<c>--quiet</c>).</param>
    /// <param name="time">The clock of the poll interval and the verify window.</param>
    /// <param name="cancellationToken">Ctrl-C: stops watching.</param>
    public static async Task<int> WatchAsync(LocalApiClient client, string reference, CliEnvironment environment, bool quiet, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(environment);
        var convergence = new ServiceConvergence(reference, time);
        var display = quiet ? new Silent() : ServiceProgressDisplay.For(environment);
        var outcome = await display.RunAsync(async show =>
        {
            try
            {
                while (true)
                {
                    var service = await client.ServiceInspectAsync(reference, insertDefaults: false, cancellationToken);
                    var result = convergence.ObserveService(ToConvergence(service));
                    if (result == ConvergenceOutcome.Watching)
                    {
                        var filters = new ListFilters();
                        filters.Add("_up-to-date", "true");
                        filters.Add("service", service.ID);
                        var tasks = await client.TaskListAsync(filters, cancellationToken);
                        var nodes = await client.NodeListAsync(new ListFilters(), cancellationToken);
                        var active = nodes.Where(n => n.Status.State != NodeStates.Down).Select(n => n.ID).ToHashSet(StringComparer.Ordinal);
                        result = convergence.ObserveTasks([.. tasks.Select(ToConvergence)], active);
                    }

                    show(convergence.TakeUpdates());
                    if (result != ConvergenceOutcome.Watching)
                    {
                        return result;
                    }

                    await Task.Delay(PollInterval, time, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                if (!convergence.IsConverged)
                {
                    show(
                    [
                        new ProgressUpdate(string.Empty, "Operation continuing in background."),
                        new ProgressUpdate(string.Empty, $"Use `shoal service ps {reference}` to check progress."),
                    ]);
                }

                return ConvergenceOutcome.Stopped;
            }
        });

        if (outcome == ConvergenceOutcome.Failed)
        {
            environment.Error.WriteLine(convergence.Failure);
            return 1;
        }

        return 0;
    }

    /// <summary>What the convergence rules read of a service.</summary>
    public static ConvergenceService ToConvergence(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var mode = service.Spec.Mode;
        var kind = mode.Replicated?.Replicas is not null ? ServiceModeKind.Replicated
            : mode.Global is not null ? ServiceModeKind.Global
            : mode.ReplicatedJob is not null ? ServiceModeKind.ReplicatedJob
            : mode.GlobalJob is not null ? ServiceModeKind.GlobalJob
            : ServiceModeKind.Unknown;
        var monitor = service.Spec.UpdateConfig?.Monitor ?? 0;
        return new ConvergenceService(
            kind,
            Replicas: mode.Replicated?.Replicas ?? 0,
            MaxConcurrent: mode.ReplicatedJob?.MaxConcurrent ?? 1,
            TotalCompletions: mode.ReplicatedJob?.TotalCompletions ?? mode.ReplicatedJob?.MaxConcurrent ?? 1,
            JobIteration: service.JobStatus?.JobIteration.Index,
            Monitor: monitor > 0 ? TimeSpan.FromTicks(monitor / 100) : TimeSpan.Zero,
            UpdateState: service.UpdateStatus?.State,
            UpdateMessage: service.UpdateStatus?.Message);
    }

    /// <summary>What the convergence rules read of a task.</summary>
    public static ConvergenceTask ToConvergence(SwarmTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new ConvergenceTask(
            (int)task.Slot,
            task.NodeID ?? string.Empty,
            task.DesiredState ?? string.Empty,
            task.Status.State ?? string.Empty,
            task.Status.Err,
            task.JobIteration?.Index);
    }

    /// <summary><c>--quiet</c>: the wait without the display.</summary>
    private sealed class Silent : ServiceProgressDisplay
    {
        public override Task<T> RunAsync<T>(Func<Action<IReadOnlyList<ProgressUpdate>>, Task<T>> watch)
        {
            ArgumentNullException.ThrowIfNull(watch);
            return watch(_ => { });
        }
    }
}
