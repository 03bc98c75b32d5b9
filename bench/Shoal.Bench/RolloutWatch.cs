using System.Diagnostics;
using Shoal.DockerApi.Model;

namespace Shoal.Bench;

/// <summary>
/// What <see cref="RolloutWatch"/> saw of one update or rollback: the fewest tasks RUNNING at once (whatever their
/// desired state: an old task told to stop still serves until its agent reports it stopped), the most, how many
/// samples were taken, the wall time from the watch's start to the final status, and that status.
/// </summary>
public sealed record RolloutObservation(int MinRunning, int MaxRunning, int Samples, TimeSpan Elapsed, UpdateStatus Status, List<SwarmTask> LastTasks)
{
    /// <summary>The update's own duration as the manager recorded it (started → completed), when both are known.</summary>
    public TimeSpan? Recorded => Status is { StartedAt: { } started, CompletedAt: { } completed } ? completed - started : null;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Status.State} after {Elapsed.TotalMilliseconds:0} ms (recorded {Recorded?.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture) ?? "-"} ms), " +
        $"running {MinRunning}..{MaxRunning} over {Samples} samples; \"{Status.Message}\"";
}

/// <summary>
/// Samples a service through a manager's API while it updates or rolls back, until its update status reaches one of
/// the final states asked for: each sample reads the status, then counts the service's RUNNING tasks (one <c>GET /tasks</c>, one
/// store view). Used by the update benchmark and the update tests, so both measure the same way.
/// </summary>
public static class RolloutWatch
{
    /// <summary>
    /// Samples every <paramref name="interval"/> until the update status of <paramref name="serviceId"/> is one of
    /// <paramref name="finalStates"/> (<see cref="UpdateStates"/>) or <paramref name="deadline"/> passes (then throws,
    /// naming the last status and tasks seen). <paramref name="sample"/>, when given, sees every sample's tasks.
    /// </summary>
    public static async Task<RolloutObservation> UntilAsync(
        SwarmApiClient api,
        string serviceId,
        IReadOnlyCollection<string> finalStates,
        TimeSpan interval,
        TimeSpan deadline,
        Action<IReadOnlyList<SwarmTask>>? sample = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(finalStates);
        var started = Stopwatch.GetTimestamp();
        int min = int.MaxValue, max = 0, samples = 0;
        List<SwarmTask> tasks = [];
        UpdateStatus? status = null;
        while (true)
        {
            // The status first: the tasks read next are at least as recent as it (a final status comes with its tasks).
            status = (await api.ServiceAsync(serviceId, cancellationToken)).UpdateStatus;
            tasks = await api.TasksAsync(serviceId, cancellationToken: cancellationToken);
            sample?.Invoke(tasks);
            var running = tasks.Count(t => t.Status.State == TaskStates.Running);
            min = Math.Min(min, running);
            max = Math.Max(max, running);
            samples++;
            if (status?.State is { } state && finalStates.Contains(state))
            {
                return new RolloutObservation(min, max, samples, Stopwatch.GetElapsedTime(started), status, tasks);
            }

            if (Stopwatch.GetElapsedTime(started) > deadline)
            {
                throw new TimeoutException(
                    $"service {serviceId} did not reach {string.Join(" or ", finalStates)} within {deadline.TotalSeconds:0} s: " +
                    $"last status {status?.State ?? "none"} \"{status?.Message}\", running {min}..{max} over {samples} samples, last tasks: " +
                    string.Join("; ", tasks.Select(t => $"slot {t.Slot} {t.ID} {t.Status.State} desired {t.DesiredState} err {t.Status.Err}")));
            }

            await Task.Delay(interval, cancellationToken);
        }
    }
}
