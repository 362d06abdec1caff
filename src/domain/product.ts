export interface Product {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  /** Always a multiple of 0.01 in (0, 99999999.99]; exact as a decimal in storage. */
  readonly price: number;
  readonly currency: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly version: number;
}

/** The fields a client owns: what a create and a replace carry in full, and an update in part. */
export interface ProductFields {
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  readonly price: number;
  readonly currency: string;
}

export const productSortFields = ['created_at', 'name', 'price'] as const;
export type ProductSortField = (typeof productSortFields)[number];

export interface ProductFilter {
  /** Case-insensitive substring of the name; wildcards are matched literally. */
  readonly q?: string | undefined;
  /** Exact SKU, ignoring case. */
  readonly sku?: string | undefined;
  readonly currency?: string | undefined;
  readonly minPrice?: number | undefined;
  readonly maxPrice?: number | undefined;
}

export const PRODUCT_DEFAULTS = { description: '', currency: 'USD' } as const;

/** The value a product is sorted by, as exact text (see Position). */
export function productSortValue(product: Product, field: ProductSortField): string {
  switch (field) {
    case 'created_at':
      return product.createdAt.toISOString();
    case 'name':
      return product.name;
    case 'price':
      return product.price.toFixed(2);
  }
}
