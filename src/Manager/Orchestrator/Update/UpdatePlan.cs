using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator.Update;

/// <summary>
/// The writes one update-supervisor pass decided, committed in one <see cref="MemoryStore.BatchAsync"/>: service
/// update statuses (and rollback swaps) first, then desired-state raises, then slot replacements. Every write re-reads
/// what it changes inside its transaction and is dropped when its reason no longer holds there (the service's spec
/// changed since the decision, the slot was replaced already); the watch event that changed it brings another pass.
/// Desired states only go up.
/// </summary>
internal sealed class UpdatePlan
{
    private readonly List<Func<WriteTransaction, bool>> _services = [];
    private readonly Dictionary<string, TaskState> _raises = new(StringComparer.Ordinal);
    private readonly List<Func<WriteTransaction, bool>> _replacements = [];

    public bool IsEmpty => _services.Count == 0 && _raises.Count == 0 && _replacements.Count == 0;

    /// <summary>Writes the last commit made.</summary>
    public int Written { get; private set; }

    /// <summary>A service write (update status, rollback): <paramref name="write"/> returns whether it wrote.</summary>
    public void ChangeService(Func<WriteTransaction, bool> write) => _services.Add(write);

    /// <summary>Raises a task's desired state (merging with any raise planned already).</summary>
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

    /// <summary>A slot replacement (shut the old task down and/or create the new one in one transaction).</summary>
    public void Replace(Func<WriteTransaction, bool> write) => _replacements.Add(write);

    /// <summary>Commits the plan and returns the transactions used.</summary>
    public async Task<int> CommitAsync(MemoryStore store, CancellationToken cancellationToken)
    {
        Written = 0;
        if (IsEmpty)
        {
            return 0;
        }

        return await store.BatchAsync(async batch =>
        {
            foreach (var write in _services)
            {
                await batch.UpdateAsync(tx => Count(write(tx)));
            }

            foreach (var (id, desired) in _raises)
            {
                await batch.UpdateAsync(tx => Count(WritePlan.RaiseDesired(tx, id, desired)));
            }

            foreach (var write in _replacements)
            {
                await batch.UpdateAsync(tx => Count(write(tx)));
            }
        }, cancellationToken);
    }

    private void Count(bool wrote)
    {
        if (wrote)
        {
            Written++;
        }
    }
}
