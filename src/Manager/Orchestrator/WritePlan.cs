using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// The writes one orchestrator pass decided, committed together through <see cref="MemoryStore.BatchAsync"/> (a node
/// failure that moves a hundred tasks is one transaction, not a hundred). Every write re-reads its object inside the
/// transaction and writes from the stored version, so it cannot undo what the scheduler or the dispatcher wrote since
/// the decision; one whose reason no longer holds is dropped (the watch event that changed it brings another pass).
/// Desired states only go up: a task already at or past the target is left alone.
/// </summary>
internal sealed class WritePlan
{
    private readonly Dictionary<string, TaskState> _raises = new(StringComparer.Ordinal);
    private readonly List<Func<WriteTransaction, SwarmTask?>> _creates = [];
    private readonly List<(string Id, Func<WriteTransaction, SwarmTask, bool> StillDeletable)> _deletes = [];

    public bool IsEmpty => _raises.Count == 0 && _creates.Count == 0 && _deletes.Count == 0;

    /// <summary>Desired states raised by the last commit.</summary>
    public int Raised { get; private set; }

    /// <summary>Tasks created by the last commit.</summary>
    public int Created { get; private set; }

    /// <summary>Tasks deleted by the last commit.</summary>
    public int Deleted { get; private set; }

    /// <summary>Raises a task's desired state to <paramref name="desired"/> (merging with any raise planned already).</summary>
    public void Raise(SwarmTask task, TaskState desired)
    {
        if (task.DesiredState >= desired)
        {
            return;
        }

        if (!_raises.TryGetValue(task.Id, out var planned) || planned < desired)
        {
            _raises[task.Id] = desired;
        }
    }

    /// <summary>Whether a raise of this task to at least <paramref name="desired"/> is planned.</summary>
    public bool Raises(string taskId, TaskState desired) => _raises.TryGetValue(taskId, out var planned) && planned >= desired;

    /// <summary>Creates the task <paramref name="build"/> returns from the transaction's state (null: no longer needed).</summary>
    public void Create(Func<WriteTransaction, SwarmTask?> build) => _creates.Add(build);

    /// <summary>Deletes a task if <paramref name="stillDeletable"/> holds for its stored version.</summary>
    public void Delete(string taskId, Func<WriteTransaction, SwarmTask, bool> stillDeletable) => _deletes.Add((taskId, stillDeletable));

    /// <summary>Commits the plan (raises first, so a replacement's check sees the task it replaces stopping) and
    /// returns the transactions used.</summary>
    /// <summary>
    /// Raises the stored task's desired state to <paramref name="desired"/> inside <paramref name="tx"/>, re-reading it
    /// there: a task already gone, or already meant for that state or a later one, is left alone (desired states only
    /// ever go up). True when it was written.
    /// </summary>
    internal static bool RaiseDesired(WriteTransaction tx, string id, TaskState desired)
    {
        var current = tx.Tasks.Get(id);
        if (current is null || current.DesiredState >= desired)
        {
            return false;
        }

        var copy = current.Clone();
        copy.DesiredState = desired;
        tx.Update(copy);
        return true;
    }

    public async Task<int> CommitAsync(MemoryStore store, CancellationToken cancellationToken)
    {
        Raised = Created = Deleted = 0;
        if (IsEmpty)
        {
            return 0;
        }

        return await store.BatchAsync(async batch =>
        {
            foreach (var (id, desired) in _raises)
            {
                await batch.UpdateAsync(tx =>
                {
                    if (RaiseDesired(tx, id, desired))
                    {
                        Raised++;
                    }
                });
            }

            foreach (var build in _creates)
            {
                await batch.UpdateAsync(tx =>
                {
                    if (build(tx) is { } task)
                    {
                        tx.Create(task);
                        Created++;
                    }
                });
            }

            foreach (var (id, stillDeletable) in _deletes)
            {
                await batch.UpdateAsync(tx =>
                {
                    if (tx.Tasks.Get(id) is { } current && stillDeletable(tx, current))
                    {
                        tx.Delete<SwarmTask>(id);
                        Deleted++;
                    }
                });
            }
        }, cancellationToken);
    }
}
