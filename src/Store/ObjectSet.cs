using System.Collections;
using System.Collections.Immutable;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>
/// The objects found by a lookup, in id order, read from one consistent state. A struct enumerable: iterating it
/// allocates nothing. The objects are the store's shared instances; Clone one before changing it.
/// </summary>
public readonly struct ObjectSet<T> : IReadOnlyCollection<T>
    where T : class, IStoreObject
{
    private readonly ImmutableSortedSet<string>? _ids;
    private readonly ImmutableDictionary<string, T>? _byId;

    internal ObjectSet(ImmutableSortedSet<string> ids, ImmutableDictionary<string, T> byId)
    {
        _ids = ids;
        _byId = byId;
    }

    public int Count => _ids?.Count ?? 0;

    public bool IsEmpty => Count == 0;

    public Enumerator GetEnumerator() => new(_ids, _byId);

    IEnumerator<T> IEnumerable<T>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public struct Enumerator : IEnumerator<T>
    {
        private readonly ImmutableDictionary<string, T>? _byId;
        private ImmutableSortedSet<string>.Enumerator _ids;
        private readonly bool _any;

        internal Enumerator(ImmutableSortedSet<string>? ids, ImmutableDictionary<string, T>? byId)
        {
            _byId = byId;
            _any = ids is not null;
            _ids = ids is null ? default : ids.GetEnumerator();
            Current = null!;
        }

        public T Current { get; private set; }

        readonly object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            if (!_any || !_ids.MoveNext())
            {
                return false;
            }

            Current = _byId![_ids.Current];
            return true;
        }

        public readonly void Reset() => throw new NotSupportedException();

        public void Dispose()
        {
            if (_any)
            {
                _ids.Dispose();
            }
        }
    }
}
