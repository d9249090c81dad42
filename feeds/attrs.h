/*
 * attrs.h: the Pinterest item attributes pinsync knows, as one table.
 *
 * Source: components.schemas.ItemAttributesRequest of Pinterest API v5.23.0
 * (../shared/pinterest-api/openapi.json). Each row gives the enum suffix, the
 * attribute's name on the wire, its JSON type and its length limit in
 * characters (0 = no limit stated by the spec). The order of the rows is the
 * canonical order used by the content hash: append new rows at the end of a
 * group only if a full resync is acceptable, since reordering changes every
 * hash.
 *
 * Types: STRING (JSON string), LIST (array of strings, values separated by
 * PS_LIST_SEP inside the item), BOOL, INT, NUMBER (JSON number, kept as text).
 */
#ifndef PS_FEEDS_ATTRS_H
#define PS_FEEDS_ATTRS_H

#include <stddef.h>

/* X(ENUM, "wire_name", TYPE, max_chars, required) */
#define PS_ATTR_TABLE(X)                                                   \
	X(ID, "id", STRING, 127, 1)                                            \
	X(TITLE, "title", STRING, 500, 1)                                      \
	X(DESCRIPTION, "description", STRING, 10000, 1)                        \
	X(LINK, "link", STRING, 511, 1)                                        \
	X(IMAGE_LINK, "image_link", STRING, 2000, 1)                           \
	X(PRICE, "price", STRING, 0, 1)                                        \
	X(AVAILABILITY, "availability", STRING, 0, 1)                          \
	X(SALE_PRICE, "sale_price", STRING, 0, 0)                              \
	X(SALE_PRICE_EFFECTIVE_DATE, "sale_price_effective_date", STRING, 0, 0) \
	X(ADDITIONAL_IMAGE_LINK, "additional_image_link", LIST, 2000, 0)       \
	X(VIDEO_LINK, "video_link", STRING, 2000, 0)                           \
	X(MOBILE_LINK, "mobile_link", STRING, 511, 0)                          \
	X(AD_LINK, "ad_link", STRING, 511, 0)                                  \
	X(BRAND, "brand", STRING, 0, 0)                                        \
	X(CONDITION, "condition", STRING, 0, 0)                                \
	X(GTIN, "gtin", STRING, 0, 0)                                          \
	X(MPN, "mpn", STRING, 0, 0)                                            \
	X(ITEM_GROUP_ID, "item_group_id", STRING, 127, 0)                      \
	X(PRODUCT_TYPE, "product_type", STRING, 1000, 0)                       \
	X(GOOGLE_PRODUCT_CATEGORY, "google_product_category", STRING, 0, 0)    \
	X(AGE_GROUP, "age_group", STRING, 0, 0)                                \
	X(GENDER, "gender", STRING, 0, 0)                                      \
	X(COLOR, "color", STRING, 0, 0)                                        \
	X(SIZE, "size", STRING, 0, 0)                                          \
	X(SIZE_TYPE, "size_type", STRING, 0, 0)                                \
	X(SIZE_SYSTEM, "size_system", STRING, 0, 0)                            \
	X(MATERIAL, "material", STRING, 0, 0)                                  \
	X(PATTERN, "pattern", STRING, 0, 0)                                    \
	X(ADULT, "adult", BOOL, 0, 0)                                          \
	X(SHIPPING, "shipping", STRING, 0, 0)                                  \
	X(SHIPPING_WEIGHT, "shipping_weight", STRING, 0, 0)                    \
	X(SHIPPING_WIDTH, "shipping_width", STRING, 0, 0)                      \
	X(SHIPPING_HEIGHT, "shipping_height", STRING, 0, 0)                    \
	X(FREE_SHIPPING_LABEL, "free_shipping_label", BOOL, 0, 0)              \
	X(FREE_SHIPPING_LIMIT, "free_shipping_limit", STRING, 0, 0)            \
	X(TAX, "tax", STRING, 0, 0)                                            \
	X(INSTALLMENT_PRICE, "installment_price", STRING, 0, 0)                \
	X(MIN_AD_PRICE, "min_ad_price", STRING, 0, 0)                          \
	X(UNIT_PRICING_MEASURE, "unit_pricing_measure", STRING, 0, 0)          \
	X(UNIT_PRICING_BASE_MEASURE, "unit_pricing_base_measure", STRING, 0, 0) \
	X(AVERAGE_REVIEW_RATING, "average_review_rating", NUMBER, 0, 0)        \
	X(NUMBER_OF_RATINGS, "number_of_ratings", INT, 0, 0)                   \
	X(NUMBER_OF_REVIEWS, "number_of_reviews", INT, 0, 0)                   \
	X(PROMOTION_ID, "promotion_id", STRING, 0, 0)                          \
	X(CHECKOUT_ENABLED, "checkout_enabled", BOOL, 0, 0)                    \
	X(CUSTOM_LABEL_0, "custom_label_0", STRING, 511, 0)                    \
	X(CUSTOM_LABEL_1, "custom_label_1", STRING, 511, 0)                    \
	X(CUSTOM_LABEL_2, "custom_label_2", STRING, 511, 0)                    \
	X(CUSTOM_LABEL_3, "custom_label_3", STRING, 511, 0)                    \
	X(CUSTOM_LABEL_4, "custom_label_4", STRING, 511, 0)                    \
	X(CUSTOM_NUMBER_0, "custom_number_0", INT, 0, 0)                       \
	X(CUSTOM_NUMBER_1, "custom_number_1", INT, 0, 0)                       \
	X(CUSTOM_NUMBER_2, "custom_number_2", INT, 0, 0)                       \
	X(CUSTOM_NUMBER_3, "custom_number_3", INT, 0, 0)                       \
	X(CUSTOM_NUMBER_4, "custom_number_4", INT, 0, 0)                       \
	X(VARIANT_NAMES, "variant_names", LIST, 0, 0)                          \
	X(VARIANT_VALUES, "variant_values", LIST, 0, 0)                        \
	X(IOS_DEEP_LINK, "ios_deep_link", STRING, 0, 0)                        \
	X(ANDROID_DEEP_LINK, "android_deep_link", STRING, 0, 0)

typedef enum ps_attr {
#define PS_ATTR_ENUM(e, name, type, max, req) PS_ATTR_##e,
	PS_ATTR_TABLE(PS_ATTR_ENUM)
#undef PS_ATTR_ENUM
	PS_ATTR__COUNT
} ps_attr;

typedef enum ps_attr_type {
	PS_ATTR_TYPE_STRING,
	PS_ATTR_TYPE_LIST,
	PS_ATTR_TYPE_BOOL,
	PS_ATTR_TYPE_INT,
	PS_ATTR_TYPE_NUMBER
} ps_attr_type;

/* Separates the values of a LIST attribute inside ps_item (never in output). */
#define PS_LIST_SEP '\x1f'

/* At most this many values in additional_image_link (Pinterest's limit). */
#define PS_MAX_ADDITIONAL_IMAGES 10

typedef struct ps_attr_def {
	const char *name;   /* wire name, e.g. "sale_price" */
	ps_attr_type type;
	unsigned max_chars; /* 0 = unbounded by the spec */
	int required;       /* needed to CREATE an item */
} ps_attr_def;

/* The table above, indexed by ps_attr. Static storage; never freed. */
extern const ps_attr_def ps_attr_defs[PS_ATTR__COUNT];

/* Returns the attribute whose wire name is name[0..len), or -1. */
int ps_attr_lookup(const char *name, size_t len);

#endif /* PS_FEEDS_ATTRS_H */
